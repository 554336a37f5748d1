"""What the learning stages read: the posted content, its metrics at each checkpoint, the follower series,
and the fits kept between runs (attribution's posterior, learn's model).

Attribution (stage 7), learning (stage 8), planning (its context) and off-policy evaluation read the same
facts; this module reads them into the arrays `growthloop.learning` works on, keeping per process what it
has read so that each run reads only what is new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import structlog
from numpy.typing import NDArray

from growthloop.config import Settings
from growthloop.domain import DIMENSIONS
from growthloop.learning import FeatureSpace, FollowsModel, Policy
from growthloop.learning.steps import RECENT_TOPICS, SIGNALS, Observed, design_rows, observe
from growthloop.learning.steps import feature_space as feature_space
from growthloop.loop.gate import WordBits
from growthloop.ports import Connection, Records, Row, Store

if TYPE_CHECKING:  # loop/learn.py reads through this module
    from growthloop.loop.learn import ValueStats

log = structlog.get_logger("growthloop.learning")
Array = NDArray[np.float64]
T = TypeVar("T")


def seconds(when: datetime) -> float:
    return when.timestamp()


# The fits kept between runs in app_state: attribution's posterior, and learn's model (with a small stamp
# row, so that readers parse the model again only when it changed). Attribution reads the model's click part
# (`follow_design`); the planner, doctor and off-policy evaluation read the model.
FIT_STATE = "attribution_fit"
MODEL_STATE = "follows_model"
MODEL_STAMP = "follows_model_as_of"


def stored_state(store: Store, conn: Any, account: str, key: str, parse: Callable[[Any], T]) -> T | None:
    """A fit kept between runs, or None if there is none or it cannot be read (then it is fitted afresh
    and overwritten: a damaged row costs a cold start, never a failing job)."""
    state = store.get_state(conn, account, key)
    if state is None:
        return None
    try:
        return parse(state)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        log.warning("learning.state_unreadable", account=account, key=key, error=f"{type(exc).__name__}: {exc}")
        return None


@dataclass
class LearningCache:
    """What the learning stages keep between runs in one process, owned by the wiring (`Wiring.learning`): the
    history read so far, the parsed model, the performance tables and the policies built on the model. Each
    entry is checked against the store before use (a count, a stamp), so the database stays the truth."""

    histories: dict[tuple[object, ...], _Kept] = field(default_factory=dict)
    models: dict[tuple[str, str], tuple[str, tuple[FollowsModel, str] | None]] = field(default_factory=dict)
    performance: dict[tuple[str, str], tuple[object, dict[str, list[ValueStats]]]] = field(default_factory=dict)
    policies: dict[tuple[object, ...], Policy] = field(default_factory=dict)
    # The shingles of the recent posts the gate compares each draft with, by text: the planner reads the
    # same thirty-odd texts at every run, one new post at a time.
    shingles: dict[tuple[str, str], dict[str, frozenset[str]]] = field(default_factory=dict)
    # and their word bits (`gate.WordBits`), one vocabulary per account
    word_bits: dict[tuple[str, str], WordBits] = field(default_factory=dict)
    # learn's attributed figures that are final (never written again), by decision id, of the posts it read
    final_figures: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # attribute's watermark: every post posted before it is final (see attribute.LOOK_BACK)
    pending_since: dict[tuple[str, str], datetime] = field(default_factory=dict)


def stored_model(
    store: Store, conn: Any, account: str, settings: Settings, cache: LearningCache | None = None
) -> tuple[FollowsModel | None, str]:
    """The last model learn fitted, and the time of the facts it was fitted on ('' if none or stale).

    The model is a couple of hundred kilobytes of JSON, read by every planning run: with a cache, it is parsed
    again only when its stamp (a small row written with it) has changed.
    """
    stamp = store.get_state(conn, account, MODEL_STAMP)
    cached = cache.models.get((store.url, account)) if cache is not None else None
    if stamp is not None and cached is not None and cached[0] == stamp:
        found = cached[1]
    else:
        found = stored_state(
            store, conn, account, MODEL_STATE, lambda s: (FollowsModel.from_dict(s["model"]), str(s["as_of"]))
        )
        if stamp is not None and cache is not None:
            cache.models[(store.url, account)] = (stamp, found)
    if found is None or found[0].space.buckets != feature_space(settings).buckets:
        return None, ""  # none, or the buckets were changed since: learn refits on the new ones
    return found


def store_model(store: Store, conn: Any, account: str, model: FollowsModel, as_of: str) -> None:
    store.set_state(conn, account, MODEL_STATE, {"as_of": as_of, "model": model.to_dict()})
    store.set_state(conn, account, MODEL_STAMP, as_of)


@dataclass
class PostHistory:
    """The posted content of one account, oldest first, as columns."""

    decision_ids: list[str]
    platform_ids: list[str]
    kinds: list[str]
    rows: list[dict[str, str]]  # dimension values
    times: Array  # posted_at, seconds
    propensity: Array  # joint
    propensities: list[dict[str, float]]
    policies: list[str]
    counters: Array  # (n, checkpoints, 3): impressions, profile clicks, engagements; NaN where not observed
    design: Array  # (n, width): each post's features, computed once when it was read (`steps.design_rows`)
    given: tuple[str, ...]  # the counters the platform gives (a counter never observed is not given)
    checkpoint_ages: Array  # seconds
    post_mask: NDArray[np.bool_] | None = None  # kinds == "post", computed once when read

    def __len__(self) -> int:
        return len(self.decision_ids)

    def take(self, mask: NDArray[np.bool_]) -> PostHistory:
        """The posts where `mask` holds (a prefix or a suffix: the order is kept)."""
        keep = np.nonzero(mask)[0]
        if len(keep) and keep[-1] - keep[0] + 1 == len(keep):
            return self.between(int(keep[0]), int(keep[-1]) + 1)  # a run of posts: sliced, not gathered
        columns: dict[str, Any] = {
            name: value[keep] if isinstance(value, np.ndarray) else [value[i] for i in keep]
            for name, value in self._columns().items()
        }
        return PostHistory(**columns, given=self.given, checkpoint_ages=self.checkpoint_ages)

    def between(self, lo: int, hi: int) -> PostHistory:
        """Posts lo to hi - 1 (copies: the caller's arrays do not change with the kept ones)."""
        columns: dict[str, Any] = {
            name: value[lo:hi].copy() if isinstance(value, np.ndarray) else value[lo:hi]
            for name, value in self._columns().items()
        }
        return PostHistory(**columns, given=self.given, checkpoint_ages=self.checkpoint_ages)

    def concat(self, later: PostHistory) -> PostHistory:
        """These posts, then `later`'s."""
        theirs = later._columns()
        columns: dict[str, Any] = {
            name: np.concatenate([value, theirs[name]]) if isinstance(value, np.ndarray) else value + theirs[name]
            for name, value in self._columns().items()
        }
        given = tuple(c for c in SIGNALS if c in self.given or c in later.given)
        return PostHistory(**columns, given=given, checkpoint_ages=self.checkpoint_ages)

    def _columns(self) -> dict[str, Any]:
        """The per-post fields."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("given", "checkpoint_ages")}
        out["post_mask"] = self.is_post
        return out

    @property
    def hours(self) -> NDArray[np.int64]:
        return np.asarray((self.times // 3600) % 24, dtype=np.int64)

    @property
    def topics(self) -> list[str]:
        return [r.get("topic", "") for r in self.rows]

    def observed(self) -> Observed:
        return observe(self.counters, self.given)

    @property
    def is_post(self) -> NDArray[np.bool_]:
        if self.post_mask is None or len(self.post_mask) != len(self.kinds):
            self.post_mask = np.asarray(np.array(self.kinds, dtype=object) == "post", dtype=bool)
        return self.post_mask


def load_history(
    records: Records,
    conn: Connection,
    account: str,
    settings: Settings,
    since: datetime,
    now: datetime,
    decisions: bool = False,
    cache: LearningCache | None = None,
) -> PostHistory:
    """Every post and reply posted between `since` and `now`, with its metric snapshots; with `decisions`,
    the policy and propensities each was chosen with (off-policy evaluation needs them, learning does not).

    With a cache, what was read is kept: a posted row does not change, and metric snapshots are only ever
    added. Each call reads the posts posted and the snapshots taken since the last one, after a count that
    checks that nothing earlier came or went (else it reads everything again). Attribution and learning
    run every two hours over days and months of posts; they read minutes' worth.
    """
    checkpoints = tuple(settings.checkpoint_seconds())
    space = feature_space(settings)
    if cache is None:
        return _read(records, conn, account, checkpoints, space, since, now, decisions)
    key = (records.history.database(conn), account, decisions, checkpoints, tuple(space.buckets.items()))
    kept = cache.histories.get(key)
    if kept is None or since < kept.since or now < kept.now or not kept.unchanged(records, conn, account, since):
        # before the read: a snapshot taken meanwhile is read again
        mark = _snapshot_mark(records, conn, account, now)
        kept = _Kept(since, now, mark, _read(records, conn, account, checkpoints, space, since, now, decisions))
    else:
        kept.extend(records, conn, account, checkpoints, space, now, decisions)
    # learning reads no further back than its history; older posts are let go
    horizon = history_start(settings, now) - timedelta(days=1)
    if kept.since < horizon <= since:
        kept.history, kept.since = kept.history.take(kept.history.times > horizon.timestamp()), horizon
    cache.histories[key] = kept
    return kept.history.take(kept.history.times > since.timestamp())


@dataclass
class _Kept:
    """What one process has read of an account: the posts posted in (since, now], and every metric snapshot
    up to id `mark` that belongs to them."""

    since: datetime
    now: datetime
    mark: int
    history: PostHistory

    def unchanged(self, records: Records, conn: Connection, account: str, since: datetime) -> bool:
        count = records.history.posted_count(conn, account, since, self.now)
        return int(count) == int((self.history.times > since.timestamp()).sum())

    def extend(
        self,
        records: Records,
        conn: Connection,
        account: str,
        checkpoints: tuple[tuple[str, int], ...],
        space: FeatureSpace,
        now: datetime,
        decisions: bool,
    ) -> None:
        """Add the posts posted since, then every snapshot taken since."""
        reads = records.history
        if now > self.now:
            posts = reads.posts(conn, account, self.now, now, decisions)
            if posts:
                held = [r.get("topic", "") for r in self.history.rows[-RECENT_TOPICS:]]
                before = held if len(held) >= RECENT_TOPICS else reads.topics_before(conn, account, self.now)
                self.history = self.history.concat(_build(posts, checkpoints, space, before))
        mark = _snapshot_mark(records, conn, account, now, after=self.mark)
        if mark > self.mark:
            _fill(self.history, reads.snapshots_between(conn, account, self.mark, mark), checkpoints)
        self.now, self.mark = now, mark


def _snapshot_mark(records: Records, conn: Connection, account: str, now: datetime, after: int = 0) -> int:
    """The id of the newest metric snapshot taken by `now` (snapshots are added in time order); with `after`,
    a mark already taken, only the rows added since are looked at (a range of the primary key)."""
    mark = records.history.snapshot_mark(conn, account, now, after)
    return int(mark or after)


def _build(
    posts: list[Row], checkpoints: tuple[tuple[str, int], ...], space: FeatureSpace, before: list[str]
) -> PostHistory:
    """The posts as columns with their design (after the topics `before`), their counters not read yet (NaN)."""
    decisions = bool(posts) and hasattr(posts[0], "propensities")
    rows = [{d: getattr(p, d) for d in DIMENSIONS} for p in posts]
    times = np.array([seconds(p.posted_at) for p in posts], dtype=float)
    return PostHistory(
        decision_ids=[p.decision_id for p in posts],
        platform_ids=[p.tweet_id for p in posts],
        kinds=[p.kind for p in posts],
        rows=rows,
        times=times,
        propensity=np.array([p.propensity if decisions else np.nan for p in posts], dtype=float),
        propensities=[dict(p.propensities) if decisions else {} for p in posts],
        policies=[p.policy if decisions else "" for p in posts],
        counters=np.full((len(posts), len(checkpoints), 3), np.nan),
        design=design_rows(space, rows, times, before),
        given=(),
        checkpoint_ages=np.array([s for _, s in checkpoints], dtype=float),
    )


def _fill(history: PostHistory, snapshots: list[Row], checkpoints: tuple[tuple[str, int], ...]) -> None:
    """Put the snapshots' counters in place (those of posts not in the history are left out, as are those
    of a checkpoint no longer configured); `given` follows what has been observed."""
    column = {name: i for i, (name, _) in enumerate(checkpoints)}
    index = _positions(history.decision_ids, {d for d, *_ in snapshots})
    taken = [(index[d], column[c], a, b, e) for d, c, a, b, e in snapshots if d in index and c in column]
    if taken:
        cells = np.array(taken, dtype=object)
        values = np.array(cells[:, 2:].tolist(), dtype=float)  # None becomes NaN
        history.counters[cells[:, 0].astype(np.int64), cells[:, 1].astype(np.int64)] = values
    observed = np.asarray(np.isfinite(history.counters).any(axis=(0, 1)), dtype=bool)
    history.given = tuple(name for k, name in enumerate(SIGNALS) if observed[k])


def _positions(ids: list[str], wanted: set[str]) -> dict[str, int]:
    """The positions of the `wanted` ids among `ids`, looked for from the newest: a run's snapshots are of the
    posts of the last checkpoint's age, not of the whole window."""
    found: dict[str, int] = {}
    for i in range(len(ids) - 1, -1, -1):
        if len(found) == len(wanted):
            break
        if ids[i] in wanted:
            found[ids[i]] = i
    return found


def _read(
    records: Records,
    conn: Connection,
    account: str,
    checkpoints: tuple[tuple[str, int], ...],
    space: FeatureSpace,
    since: datetime,
    now: datetime,
    decisions: bool,
) -> PostHistory:
    """Everything afresh: the posts and every snapshot of them (how counters grow with age is measured on every
    post seen at two checkpoints), as a process that kept its history holds them."""
    reads = records.history
    posts = reads.posts(conn, account, since, now, decisions)
    history = _build(posts, checkpoints, space, reads.topics_before(conn, account, since))
    # Every checkpoint of every post, settled or not: a process that read a post while it accrued keeps all
    # of its snapshots (`_Kept.extend`), so reading only the latest of the settled ones measured completeness
    # on fewer posts after a restart, and fitted another model than the process that kept its cache.
    _fill(history, reads.all_snapshots(conn, [p.decision_id for p in posts], now), checkpoints)
    return history


def load_followers(
    records: Records, conn: Connection, account: str, since: datetime, now: datetime
) -> tuple[Array, Array]:
    """The follower snapshots between `since` and `now`: times (seconds) and counts."""
    rows = records.history.followers(conn, account, since, now)
    return (
        np.array([seconds(observed_at) for observed_at, _ in rows], dtype=float),
        np.array([followers for _, followers in rows], dtype=float),
    )


def recent_topics(records: Records, conn: Connection, account: str) -> tuple[str, ...]:
    """The topics of the latest posts and replies, posted or waiting in the queue, oldest first (for topic
    fatigue, counted over both as in the model's design)."""
    return tuple(records.history.recent_topics(conn, account))


def history_start(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(days=settings.learning.history_days)


def from_seconds(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
