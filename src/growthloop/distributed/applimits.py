"""A rate limit that belongs to the platform app, not the account, shared by every account and every worker.

X caps posting per app over 24 hours (`x-app-limit-24hour-*` headers) beside each account's own cap. With
many accounts on many workers, each worker's memory of the headers is not enough: the app's budget is a
counter in the store (`app_limits`). Before a call, a worker takes one unit of the app's window (an atomic
decrement that never goes below zero); a spent window blocks every account until its reset. After a call,
the server's word replaces the counter: within one window the smaller of the two counts (answers arrive out
of order, and the units taken since were not yet counted by the server), a new window as the server says.

The app is named by the platform and its API base URL: the accounts of one deployment post through one
developer app (an agency registers one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from growthloop.adapters.platforms.x.edge import RateLimits, Window
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import app_limits

APP_FAMILY = "x-app-limit-24hour"


@dataclass(frozen=True)
class AppCounter:
    """The store-backed counter of one app's window for one endpoint."""

    store: SqlStore
    app: str
    family: str = APP_FAMILY

    def take(self, endpoint: str, now: datetime) -> datetime | None:
        """Take one unit of the window: None when allowed, else when the spent window resets."""
        al = app_limits
        key = (al.c.app == self.app, al.c.endpoint == endpoint, al.c.family == self.family)
        with self.store.begin() as conn:
            taken = conn.execute(
                update(al)
                .where(*key, al.c.remaining > 0, (al.c.reset_at.is_(None)) | (al.c.reset_at > now))
                .values(remaining=al.c.remaining - 1, updated_at=now)
            ).rowcount
            if taken:
                return None
            row = conn.execute(select(al.c.remaining, al.c.reset_at).where(*key)).first()
        if row is None or row.remaining is None or row.reset_at is None or row.reset_at <= now:
            return None  # no window known, or it has reset: the server's next answer says
        return row.reset_at if row.remaining <= 0 else None

    def record(self, endpoint: str, remaining: int, reset_at: datetime | None, now: datetime) -> None:
        """The server's word on the window (see the module)."""
        al = app_limits
        key = (al.c.app == self.app, al.c.endpoint == endpoint, al.c.family == self.family)
        for _ in range(3):
            try:
                with self.store.begin() as conn:
                    query = select(al.c.remaining, al.c.reset_at).where(*key)
                    if self.store.dialect == "postgresql":
                        query = query.with_for_update()
                    row = conn.execute(query).first()
                    if row is None:
                        conn.execute(
                            al.insert().values(
                                app=self.app,
                                endpoint=endpoint,
                                family=self.family,
                                remaining=remaining,
                                reset_at=reset_at,
                                updated_at=now,
                            )
                        )
                        return
                    same_window = row.reset_at is not None and reset_at is not None and row.reset_at == reset_at
                    value = min(remaining, row.remaining) if same_window and row.remaining is not None else remaining
                    conn.execute(update(al).where(*key).values(remaining=value, reset_at=reset_at, updated_at=now))
                    return
            except IntegrityError:
                continue  # another worker inserted the row first: update it


@dataclass
class SharedAppLimits(RateLimits):
    """X's RateLimits whose per-app family lives in the store, shared across accounts and workers."""

    counter: AppCounter | None = None

    def update(self, endpoint: str, headers: Mapping[str, str]) -> None:
        super().update(endpoint, headers)
        window: Window | None = self.windows.get(endpoint, {}).get(APP_FAMILY)
        if self.counter is not None and window is not None and window.remaining is not None:
            self.counter.record(endpoint, window.remaining, window.reset, datetime.now(UTC))

    def blocked_until(self, endpoint: str, now: datetime) -> datetime | None:
        own = self.windows.get(endpoint, {})
        # the app's family is the store's to say, not this process's last answer
        local = [
            w.reset
            for family, w in own.items()
            if family != APP_FAMILY and w.remaining == 0 and w.reset is not None and w.reset > now
        ]
        shared = self.counter.take(endpoint, now) if self.counter is not None else None
        resets = [r for r in (*local, shared) if r is not None]
        return max(resets) if resets else None


def share_app_limits(platform: object, store: SqlStore, base_url: str) -> bool:
    """Give an X platform (or a dry run around one) the app's shared limits; False for any other platform."""
    from growthloop.adapters.platforms.x.platform import XPlatform

    inner = getattr(platform, "inner", platform)
    if not isinstance(inner, XPlatform):
        return False
    shared = SharedAppLimits(counter=AppCounter(store, f"x:{base_url.rstrip('/')}"))
    shared.windows.update(inner._limits.windows)
    inner._limits = shared
    return True
