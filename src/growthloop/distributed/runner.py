"""The dispatcher's loop on the real clock: new accounts get their schedule, due slots are published, and a
broker or database outage is said once, waited out, and its end said once (no restart by hand)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.exc import OperationalError as DbOperationalError

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import job_schedule
from growthloop.config import Settings
from growthloop.distributed.dispatch import Publish, dispatch_due, sync_schedule
from growthloop.distributed.settings import account_settings, dispatched_accounts
from growthloop.errors import StoreError

log = structlog.get_logger("growthloop.distributed")


def is_broker_error(exc: BaseException) -> bool:
    from kombu.exceptions import OperationalError

    return isinstance(exc, OperationalError | ConnectionError | OSError)


class DispatchLoop:
    def __init__(self, store: SqlStore, settings: Settings, publish: Publish, say: Callable[[str], None]) -> None:
        self.store, self.settings, self.publish, self.say = store, settings, publish, say
        self._synced: set[str] = set()
        self.outage: str | None = None

    def _accounts(self, now: datetime) -> list[str]:
        names = dispatched_accounts(self.store)
        new = [n for n in names if n not in self._synced]
        if new:
            with self.store.connect() as conn:
                scheduled = set(
                    conn.execute(select(job_schedule.c.account).where(job_schedule.c.account.in_(new))).scalars()
                )
            for name in new:
                settings = account_settings(self.store, self.settings, name)
                sync_schedule(self.store, settings, now if name not in scheduled else now)
                self._synced.add(name)
        return names

    def once(self, now: datetime) -> int:
        names = self._accounts(now)
        if not names:
            return 0
        return dispatch_due(self.store, now, self.publish, names).count()

    def forever(self, every: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                n = self.once(datetime.now(UTC))
                if self.outage is not None:
                    self.say(f"{self.outage} is back: dispatching again")
                    self.outage = None
                if n:
                    log.info("dispatch.published", slots=n)
            except (DbOperationalError, StoreError) as exc:
                self._away("the database", exc, every)
            except Exception as exc:
                if not is_broker_error(exc):
                    raise
                self._away("the broker", exc, every)
            stop.wait(every)

    def _away(self, what: str, exc: BaseException, every: float) -> None:
        if self.outage is None:
            first = str(exc).splitlines()[0] if str(exc) else ""
            self.say(f"{what} is unreachable ({type(exc).__name__}: {first}); trying again every {every:g} s")
            self.outage = what
