"""SimPlatform: the audience simulator as a Platform adapter (docs/design.md#simulator).

The model in `audience.py` is pure; this adapter keeps the platform's side of the world in the
database (`sim_*` tables): what was published, when each follow and unfollow happens. So a killed
simulation resumes where it was, and a second publish of the same text is refused and recorded, as
a real platform refuses duplicate content.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from growthloop.adapters.platforms.sim.audience import Audience, PostOutcome
from growthloop.adapters.platforms.sim.chatter import MENTION_WINDOW, audience_mentions, search_results
from growthloop.adapters.platforms.sim.profiles import PROFILES
from growthloop.adapters.platforms.sim.world import World
from growthloop.adapters.store.prepared import Prepared, PreparedInsert, no_index
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import sim_follower_events, sim_posts, sim_rejections
from growthloop.domain import Capabilities, Mention, PostMetrics, PublishReceipt, PublishRequest
from growthloop.errors import ContentRejected, PlatformUnavailable, RateLimited

_OUTCOME_FIELDS = {f.name for f in fields(PostOutcome)}


def _outcome(data: dict[str, Any]) -> PostOutcome:
    values = {k: v for k, v in data.items() if k in _OUTCOME_FIELDS}
    values["follow_delays"] = tuple(values["follow_delays"])
    return PostOutcome(**values)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_sp, _fe = sim_posts, sim_follower_events
# Built once and sent straight to the driver (adapters/store/prepared.py): each is run many times a simulated
# day, and SQLAlchemy's work per execution costs several times what SQLite takes to run them.

# The same text, by its hash alone: an index of the account's posts would walk every post it ever published.
_SAME_TEXT = Prepared(
    select(_sp.c.platform_id, _sp.c.published_at, _sp.c.parts).where(
        no_index(_sp.c.account) == bindparam("account"), _sp.c.text_sha == bindparam("sha")
    )
)
# The account's rows after the newest one this adapter holds, on the (account, id) index: rows are only ever
# added (by this adapter, in some process holding the account's lease), so what it holds plus these is all.
_POSTS_AFTER = Prepared(
    select(_sp.c.id, _sp.c.platform_id, _sp.c.seq, _sp.c.published_at, _sp.c.dimensions, _sp.c.outcome)
    .where(_sp.c.account == bindparam("account"), _sp.c.id > bindparam("after"))
    .order_by(_sp.c.id)
)
_SUM_UNTIL = Prepared(
    select(func.coalesce(func.sum(_fe.c.delta), 0)).where(
        _fe.c.account == bindparam("account"), _fe.c.at <= bindparam("now")
    )
)
# the newest id of the account's events, once this adapter has added some (under the account's lease: its own)
_EVENTS_MARK = Prepared(select(func.max(_fe.c.id)).where(_fe.c.account == bindparam("account")))
_EVENTS_AFTER = Prepared(
    select(_fe.c.id, _fe.c.at, _fe.c.delta, _fe.c.cause)
    .where(_fe.c.account == bindparam("account"), _fe.c.id > bindparam("after"))
    .order_by(_fe.c.id)
)
_POST_COLUMNS = (
    "account",
    "platform_id",
    "seq",
    "request_key",
    "text",
    "text_sha",
    "parts",
    "dimensions",
    "published_at",
    "outcome",
    "follows",
    "expected_follows",
    "viral",
)
_INSERT_POST = Prepared(_sp.insert().values({c: bindparam(c) for c in _POST_COLUMNS}).returning(_sp.c.id))
_INSERT_EVENTS = PreparedInsert(_fe)


@dataclass
class _Posts:
    """The account's published posts, in order: what publishing and mentions need of them."""

    mark: int
    ids: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    dimensions: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, platform_id: str, seq: int, at: datetime, dimensions: dict[str, Any], outcome: dict[str, Any]
    ) -> None:
        self.ids.append(platform_id)
        self.seqs.append(seq)
        self.times.append(at)
        self.dimensions.append(dimensions)
        self.outcomes.append(outcome)


@dataclass
class _Followers:
    """The follower events: their sum up to `counted_until`, the later ones waiting in a heap by time."""

    mark: int
    days_done: int = 0  # days whose organic events are written
    total: int = 0
    counted_until: datetime | None = None
    waiting: list[tuple[datetime, int]] = field(default_factory=list)

    def add(self, at: datetime, delta: int) -> None:
        if self.counted_until is not None and at <= self.counted_until:
            self.total += delta
        else:
            heapq.heappush(self.waiting, (at, delta))

    def at(self, now: datetime) -> int | None:
        """The sum of the deltas up to `now`; None if that is before what was already counted."""
        if self.counted_until is not None and now < self.counted_until:
            return None
        while self.waiting and self.waiting[0][0] <= now:
            self.total += heapq.heappop(self.waiting)[1]
        self.counted_until = now
        return self.total


class SimPlatform:
    name = "sim"

    def __init__(self, store: SqlStore, account: str, world: World, start: datetime) -> None:
        self.store, self.account, self.world, self.start = store, account, world, start
        self.profile = PROFILES[world.platform]  # what the platform shows: X's, Bluesky's or Mastodon's
        self.audience = Audience(world, origin=start)
        self._outcomes: dict[str, tuple[PostOutcome, datetime]] = {}
        self._mentions: dict[str, list[Mention]] = {}  # per post: its conversation is fixed once drawn
        self._calls = 0  # for fault draws; faults are off unless the world sets them
        # What this adapter wrote to its sim_* tables, kept so that no call re-reads a growing history
        self._posts: _Posts | None = None
        self._followers: _Followers | None = None

    def _known_posts(self, conn: Connection) -> _Posts:
        posts = self._posts = self._posts or _Posts(0)
        for r in _POSTS_AFTER.run(conn, {"account": self.account, "after": posts.mark}):
            posts.add(r.platform_id, r.seq, r.published_at, r.dimensions, r.outcome)
            posts.mark = r.id
        return posts

    def _known_followers(self, conn: Connection) -> _Followers:
        known = self._followers = self._followers or _Followers(0)
        for r in _EVENTS_AFTER.run(conn, {"account": self.account, "after": known.mark}):
            known.add(r.at, r.delta)
            known.days_done += r.cause == "day"
            known.mark = r.id
        return known

    @contextmanager
    def _writing_events(self) -> Iterator[Connection]:
        """A transaction that may add follower events: if it does not commit, the memory of them is dropped
        (read again at the next call), so that it never holds an event the database does not."""
        try:
            with self.store.begin() as conn:
                yield conn
        except BaseException:
            self._followers = None
            raise

    def _add_events(self, conn: Connection, known: _Followers, rows: list[dict[str, Any]]) -> None:
        """Write follower events (in a `_writing_events` transaction), and keep them with the newest id."""
        _INSERT_EVENTS.run(conn, rows)
        for row in rows:
            known.add(row["at"], row["delta"])
        known.days_done += sum(row["cause"] == "day" for row in rows)
        known.mark = int(_EVENTS_MARK.run(conn, {"account": self.account}).scalar_one())

    def capabilities(self) -> Capabilities:
        return self.profile.capabilities

    # -- publishing -------------------------------------------------------------------------------------
    def _maybe_fault(self, kind: str, now: datetime) -> bool:
        """Raise the world's fault for this call, if any. Returns True for a timeout that took effect."""
        self._calls += 1
        fault = self.audience.fault(self._calls, kind)
        if fault is None:
            return False
        if fault.kind == "rate_limited":
            raise RateLimited(now + timedelta(seconds=fault.retry_after_seconds or 900), "sim: 429 Too Many Requests")
        if fault.kind == "server_error":
            raise PlatformUnavailable("sim: 503 Service Unavailable")
        if not fault.applied:
            raise PlatformUnavailable("sim: timeout before the request was received")
        return True

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        if not request.parts or not all(p.strip() for p in request.parts):
            raise ContentRejected("sim: a post or thread part is empty")  # as every platform refuses it
        applied_then_timed_out = self._maybe_fault("post", now)
        text = "\n\n".join(request.parts)
        with self._writing_events() as conn:
            duplicate = _SAME_TEXT.run(conn, {"account": self.account, "sha": _sha(text)}).first()
            if duplicate is not None:
                conn.execute(
                    sim_rejections.insert().values(
                        account=self.account, at=now, reason=f"duplicate of {duplicate[0]}", text=text
                    )
                )
                raise ContentRejected(f"sim: 403 duplicate content (same text as {duplicate[0]})")
            posts = self._known_posts(conn)
            seq = len(posts.ids)
            recent_topics = [d.get("topic", "") for d in posts.dimensions[-max(self.world.fatigue.window, 1) :]]
            outcome = self.audience.draw_post(seq, request.dimensions, now, recent_topics)
            platform_id = f"{self.account}.{seq + 1}"
            drawn = {f.name: getattr(outcome, f.name) for f in fields(outcome)}  # asdict, without its deep copy
            new_id = _INSERT_POST.run(
                conn,
                dict(
                    account=self.account,
                    platform_id=platform_id,
                    seq=seq,
                    request_key=request.key,
                    text=text,
                    text_sha=_sha(text),
                    parts=list(request.parts),
                    dimensions=dict(request.dimensions),
                    published_at=now,
                    outcome=drawn,
                    follows=outcome.follows,
                    expected_follows=outcome.expected_follows,
                    viral=outcome.viral,
                ),
            ).scalar_one()
            if outcome.follow_delays:
                self._add_events(
                    conn,
                    self._known_followers(conn),
                    [
                        dict(account=self.account, at=now + timedelta(seconds=d), delta=1, cause=platform_id)
                        for d in outcome.follow_delays
                    ],
                )
        # kept only once committed: a rolled-back publish leaves the memory as the database is
        posts.add(platform_id, seq, now, dict(request.dimensions), drawn)
        posts.mark = max(posts.mark, int(new_id))
        self._outcomes[platform_id] = (outcome, now)
        if applied_then_timed_out:
            raise PlatformUnavailable("sim: timeout after the request was received")
        return self._receipt(platform_id, len(request.parts), now)

    @staticmethod
    def _receipt(platform_id: str, parts: int, published_at: datetime) -> PublishReceipt:
        part_ids = (platform_id,) + tuple(f"{platform_id}.{i}" for i in range(1, parts))
        return PublishReceipt(platform_id=platform_id, part_ids=part_ids, published_at=published_at)

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        """Look for the text among the account's posts, as one would on a real platform."""
        text = "\n\n".join(request.parts)
        with self.store.connect() as conn:
            row = _SAME_TEXT.run(conn, {"account": self.account, "sha": _sha(text)}).first()
        return None if row is None else self._receipt(row.platform_id, len(row.parts), row.published_at)

    # -- measuring --------------------------------------------------------------------------------------
    def _load(self, platform_ids: Sequence[str]) -> None:
        missing = [p for p in platform_ids if p not in self._outcomes]
        if not missing:
            return
        with self.store.connect() as conn:
            for row in conn.execute(
                select(sim_posts.c.platform_id, sim_posts.c.outcome, sim_posts.c.published_at).where(
                    sim_posts.c.platform_id.in_(missing)
                )
            ):
                self._outcomes[row.platform_id] = (_outcome(row.outcome), row.published_at)

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]:
        self._maybe_fault("metrics", now)
        self._load(platform_ids)
        out = []
        for pid in dict.fromkeys(platform_ids):  # once per post, however often it is asked for
            if pid not in self._outcomes:
                continue  # unknown ids are left out, as X leaves out deleted posts
            outcome, published_at = self._outcomes[pid]
            m = self.audience.metrics_at(outcome, (now - published_at).total_seconds())
            out.append(PostMetrics(platform_id=pid, **self.profile.hide(m)))
        return out

    def follower_count(self, now: datetime) -> int:
        self._maybe_fault("followers", now)
        through_day = self.audience.day_index(now)
        with self.store.connect() as conn:
            known = self._known_followers(conn)
        if known.days_done <= through_day:
            known = self._ensure_organic(through_day)
        delta = known.at(now)
        if delta is None:  # asked about an earlier time than before (a resumed clock): summed afresh
            with self.store.connect() as conn:
                delta = int(_SUM_UNTIL.run(conn, {"account": self.account, "now": now}).scalar_one())
        return max(0, self.world.initial_followers + int(delta))

    def _ensure_organic(self, through_day: int) -> _Followers:
        """Write the organic follows and churn of every day up to `through_day`, once each."""
        with self._writing_events() as conn:
            known = self._known_followers(conn)
            for day in range(known.days_done, through_day + 1):
                day_start = self.start + timedelta(days=day)
                summed = known.at(day_start)
                if summed is None:
                    summed = int(_SUM_UNTIL.run(conn, {"account": self.account, "now": day_start}).scalar_one())
                followers = self.world.initial_followers + summed
                rows = [
                    dict(
                        account=self.account,
                        at=day_start + timedelta(seconds=offset),
                        delta=delta,
                        cause="organic" if delta > 0 else "churn",
                    )
                    for offset, delta in self.audience.organic_events(day, max(followers, 0))
                ]
                # A zero-delta marker records that the day was generated, so it never is twice.
                rows.append(dict(account=self.account, at=day_start, delta=0, cause="day"))
                self._add_events(conn, known, rows)
        return known

    # -- replies: mentions, quotes and topic search ----------------------------------------------------
    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        """Replies and quotes of our posts by the simulated audience, as many as each post's counters."""
        with self.store.connect() as conn:
            posts = self._known_posts(conn)
        # posts are published in time order: the window is a slice
        lo = bisect.bisect_right(posts.times, since - MENTION_WINDOW)
        hi = bisect.bisect_right(posts.times, now)
        for i in range(lo, hi):
            pid = posts.ids[i]
            if pid not in self._mentions:  # a post's conversation is fixed once drawn: draw it once
                topic = str(posts.dimensions[i].get("topic", "this"))
                self._mentions[pid] = audience_mentions(
                    self.world.seed,
                    pid,
                    posts.seqs[i],
                    posts.times[i],
                    topic,
                    posts.outcomes[i],
                    self.world.injection_rate,
                )
        return [m for i in range(lo, hi) for m in self._mentions[posts.ids[i]] if since < m.created_at <= now]

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        """Posts by others on a topic: one every six hours per query, the last day's worth."""
        if not query.strip():
            raise ValueError("search query is empty")
        return search_results(self.world.seed, query, now, self.world.injection_rate)

    # -- ground truth -----------------------------------------------------------------------------------
    def ground_truth(self, now: datetime) -> dict[str, Any]:
        """The world's true effects and the true followers caused by each post, for evaluation."""
        with self.store.connect() as conn:
            posts = [
                dict(
                    platform_id=r.platform_id,
                    decision_id=r.request_key,
                    dimensions=r.dimensions,
                    published_at=r.published_at.isoformat(),
                    follows=r.follows,
                    expected_follows=r.expected_follows,
                    viral=r.viral,
                )
                for r in conn.execute(
                    select(sim_posts).where(sim_posts.c.account == self.account).order_by(sim_posts.c.seq)
                )
            ]
        return {
            "world": self.world.name,
            "seed": self.world.seed,
            "true_effects": self.audience.true_effects(self.audience.day_index(now)),
            "posts": posts,
        }
