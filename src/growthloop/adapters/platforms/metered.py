"""A metered platform: every call of every adapter priced and recorded in `platform_usage`, against a budget.

Wrapped around the platform in `bootstrap.py` (like dry_run.py), so the stages in loop/ call the port as
before and nothing inside them knows about money. Two ways a call is priced:

* an adapter that reports its own HTTP calls (`drain_calls()`, the X adapter) is priced call by call,
  from the endpoint and the resources in each answer (spend/xcalls.py);
* any other adapter (the simulator, Mastodon, Bluesky) is priced at the port, as X would charge the same
  operation (spend/portcalls.py): the simulator charges X's prices, so budgets run on virtual time.

The budget (spend/budget.py) is checked before each call: past `degrade_at` the wrapper turns topic search
off and skips late metric checkpoints; at the budget it makes no paid call (BudgetExhausted, a
RateLimited: the post stays queued), while reads of resources already paid for today stay free.
Credits exhausted at the platform (CreditsExhausted) are kept in the account's state for doctor and status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import bindparam, select

from growthloop.adapters.metering import portcalls, xcalls
from growthloop.adapters.metering.state import clear_credits_exhausted, note_credits_exhausted
from growthloop.adapters.metering.usage import Call, UsageBook
from growthloop.adapters.store.prepared import Prepared
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata
from growthloop.config import Settings
from growthloop.domain import Capabilities, Mention, PostMetrics, PublishReceipt, PublishRequest
from growthloop.errors import BudgetExhausted, CreditsExhausted, PlatformError
from growthloop.ports import CredentialCheck, Identity, Platform
from growthloop.spend.budget import BudgetState, budget_state
from growthloop.spend.prices import PriceTable, price_table
from growthloop.spend.settings import SpendSettings

log = structlog.get_logger("growthloop.spend")
T = TypeVar("T")


_cm = content_metadata
# The account's posts published since a time, by the (account, posted_at) index: where the posts whose ages a
# metrics call needs mostly are (the newest ones, at their first checkpoints).
_POSTED_SINCE = Prepared(
    select(_cm.c.tweet_id, _cm.c.posted_at).where(
        _cm.c.account == bindparam("account"),
        _cm.c.posted_at >= bindparam("since"),
        _cm.c.tweet_id.is_not(None),
    )
)
# Any of the account's posts by platform id (content_metadata has no index on it: a walk of the account's rows).
_POSTED_IDS = select(_cm.c.tweet_id, _cm.c.posted_at).where(
    _cm.c.account == bindparam("account"), _cm.c.tweet_id.in_(bindparam("ids", expanding=True))
)
RECENT = timedelta(days=1)  # how far back a metrics call's unknown posts are looked for first


def _reporter(platform: Platform) -> Any:
    """The adapter that reports its HTTP calls, through dry-run wrappers; None when there is none."""
    seen: Any = platform
    for _ in range(4):
        if callable(getattr(seen, "drain_calls", None)):
            return seen
        seen = getattr(seen, "inner", None)
        if seen is None:
            return None
    return None


class MeteredPlatform:
    def __init__(
        self, inner: Platform, store: SqlStore, account: str, table: PriceTable, settings: SpendSettings
    ) -> None:
        self.inner, self.store, self.account, self.settings = inner, store, account, settings
        self.name = inner.name
        self.table = table
        self.book = UsageBook(store, account, table)
        self._reporting = _reporter(inner)
        self._late = timedelta(seconds=settings.late_checkpoint_seconds())
        self._owned = timedelta(hours=settings.owned_window_hours)
        self._last: BudgetState | None = None
        self._credits_out: bool | None = None  # whether the account's state holds a credits-exhausted note
        # platform id -> posted_at of the account's posts: both are written once, together, when a post is
        # marked posted, and never changed, so what was read once stays true
        self._posted: dict[str, datetime] = {}
        self._newest: datetime | None = None  # the latest posted_at read: later posts are what a call misses

    # -- the budget ------------------------------------------------------------------------------------
    def state(self, now: datetime, extra: int = 0) -> BudgetState:
        day, month = self.book.totals(now)
        state = budget_state(self.settings, day, month, now, extra, self.table.unit("post_create"))
        if extra == 0:
            self._last = state
        return state

    def _stop(self, state: BudgetState, what: str) -> BudgetExhausted:
        assert state.until is not None
        log.warning("spend.stopped", account=self.account, what=what, reason=state.reason)
        return BudgetExhausted(state.until, f"{self.name} {what}: {state.reason}")

    # -- the port --------------------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        caps = self.inner.capabilities()
        if caps.search and self._last is not None and self._last.degraded:
            return dataclasses.replace(caps, search=False)  # as of the last call: the port's method has no time
        return caps

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        if not self.table.free:
            predicted = sum(c.micros for c in self.book.price(portcalls.publish(request, len(request.parts)), now))
            state = self.state(now, extra=predicted)
            if state.stopped:
                raise self._stop(state, "publish")
        receipt = self._metered(lambda: self.inner.publish(request, now), now, "publish", request=request)
        return receipt

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        return self._metered(lambda: self.inner.find_published(request, now), now, "reconcile", request=request)

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]:
        ids = list(platform_ids)
        if self.table.free or not ids:
            return self._metered(lambda: self.inner.metrics(ids, now), now, "metrics")
        state = self.state(now)
        ages = self._ages(ids, now) if state.degraded or self._reporting is None else {}
        if state.stopped:
            ids = [p for p in ids if self.book.charged_today(f"post:{p}", now)]  # free today
        elif state.degraded:
            ids = [p for p in ids if p not in ages or ages[p] <= self._late]  # late checkpoints skipped
        if len(ids) < len(platform_ids):
            log.info("spend.metrics_skipped", skipped=len(platform_ids) - len(ids), reason=state.reason)
        if not ids:
            return []
        return self._metered(lambda: self.inner.metrics(ids, now), now, "metrics", ages=ages)

    def follower_count(self, now: datetime) -> int:
        if not self.table.free:
            state = self.state(now)
            if state.stopped and not self.book.charged_today(portcalls.ME, now):
                raise self._stop(state, "follower count")
        return self._metered(lambda: self.inner.follower_count(now), now, "followers")

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        if not self.table.free and self.state(now).stopped:
            return []  # the replies stage reads from its last find on: nothing is missed within replies.max_age
        return self._metered(lambda: self.inner.mentions(since, now), now, "mentions")

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        if not self.table.free and self.state(now).degraded:
            return []  # topic search is the first thing a degraded budget gives up
        return self._metered(lambda: self.inner.search_recent(query, now), now, "search")

    def check_credentials(self, now: datetime) -> Identity:
        """The wrapped platform's check, passed through like the dry-run wrapper's: doctor's one read of who the
        credentials act for is not part of the loop's spend."""
        if not isinstance(self.inner, CredentialCheck):
            raise PlatformError(f"{self.name} has no credentials to check")
        return self.inner.check_credentials(now)

    # -- recording -------------------------------------------------------------------------------------
    def _metered(self, call: Callable[[], T], now: datetime, op: str, **context: Any) -> T:
        if self._reporting is not None:
            self._reporting.drain_calls()  # anything left from a call made around the wrapper
        try:
            result = call()
        except CreditsExhausted as exc:
            note_credits_exhausted(self.store, self.account, now, str(exc))
            self._credits_out = True
            self._record(op, None, now, context)
            raise
        except Exception:
            self._record(op, None, now, context)
            raise
        self._record(op, result, now, context)
        if self._credits_out is not False:  # a call went through: credits are back
            clear_credits_exhausted(self.store, self.account)
            self._credits_out = False
        return result

    def _record(self, op: str, result: Any, now: datetime, context: dict[str, Any]) -> None:
        if self.table.free:
            if self._reporting is not None:
                self._reporting.drain_calls()
            return
        calls: list[Call]
        if self._reporting is not None:
            calls = xcalls.priced(self._reporting.drain_calls(), op, context.get("request"))
        else:
            calls = portcalls.priced(op, result, context, self._owned)
        if calls:
            self.book.record(calls, now)

    def _ages(self, ids: list[str], now: datetime) -> dict[str, timedelta]:
        """platform id -> age, for the account's own posts among `ids`.

        The posting times are kept once read (they never change): a call reads only for the ids it has not
        seen yet, first among the posts since the newest one read (within the last day: an indexed range), then,
        for any still unknown (a post marked posted late, with an earlier time), by id.
        """
        posted = self._posted
        unknown = [p for p in ids if p not in posted]
        if unknown:
            with self.store.connect() as conn:
                since = now - RECENT if self._newest is None else max(now - RECENT, self._newest)
                for tweet_id, at in self.store.run(conn, _POSTED_SINCE, {"account": self.account, "since": since}):
                    posted[tweet_id] = at
                    self._newest = at if self._newest is None else max(self._newest, at)
                rest = [p for p in unknown if p not in posted]
                if rest:
                    for tweet_id, at in conn.execute(_POSTED_IDS, {"account": self.account, "ids": rest}):
                        if at is not None:
                            posted[tweet_id] = at
        return {p: now - posted[p] for p in ids if p in posted}


def priced_as(platform: Platform) -> str:
    """The platform whose prices apply: the simulator charges those of the platform it imitates (its world's
    `platform`, X by default), so budgets and degradation run on virtual time."""
    if platform.name == "sim":
        world: Any = getattr(platform, "world", None)
        return str(getattr(world, "platform", "x") or "x")
    return platform.name


def metered(settings: Settings, store: SqlStore, platform: Platform) -> Platform:
    """`platform` metered for the account of `settings` (bootstrap wraps every platform in it)."""
    if isinstance(platform, MeteredPlatform):
        return platform
    table = price_table(priced_as(platform), settings.spend.prices)
    return MeteredPlatform(platform, store, settings.account, table, settings.spend)
