"""What the learning stages read (ports.HistoryRecords) on SqlStore: the posted content, its metric snapshots,
the follower series, the recent topics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select

from growthloop.adapters.store.prepared import Prepared, no_index
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, metric_snapshots
from growthloop.domain import DIMENSIONS, POSTED, POSTING, QUEUED
from growthloop.learning.steps import ENGAGEMENTS, RECENT_TOPICS

_ms = metric_snapshots
_cm = content_metadata
_SNAPSHOT_COLUMNS = select(
    _ms.c.decision_id,
    _ms.c.checkpoint,
    _ms.c.impressions,
    _ms.c.profile_clicks,
    # the engagements the platform shows: Bluesky and Mastodon show no bookmarks (NULL), which must not
    # hide the rest; NULL only when it shows no likes
    sum((func.coalesce(_ms.c[e], 0) for e in ENGAGEMENTS[1:]), _ms.c[ENGAGEMENTS[0]]),
)
# The account's range of ids from the last mark, on the (account, id) index: the time is written so that
# the (account, observed_at) index cannot serve it, which would walk every snapshot of the account (at a year
# of history, 80,000 rows for the dozens taken in two hours); the primary key alone would walk every other
# account's snapshots since the mark too.
_MARK = Prepared(
    select(func.max(_ms.c.id)).where(
        _ms.c.account == bindparam("account"),
        _ms.c.id > bindparam("after"),
        no_index(_ms.c.observed_at) <= bindparam("now"),
    )
)
# The snapshots taken between two marks: the same range of the account's ids.
_BETWEEN = Prepared(
    _SNAPSHOT_COLUMNS.where(
        _ms.c.account == bindparam("account"), _ms.c.id > bindparam("after"), _ms.c.id <= bindparam("mark")
    )
)
_POSTED_COUNT = Prepared(
    select(func.count()).where(
        content_metadata.c.account == bindparam("account"),
        content_metadata.c.status == POSTED,
        content_metadata.c.posted_at > bindparam("since"),
        content_metadata.c.posted_at <= bindparam("now"),
    )
)
# The posts posted in (since, now], oldest first; with the decisions (policy, propensities) or without.
_POSTS = {
    decisions: Prepared(
        select(
            _cm.c.decision_id,
            _cm.c.tweet_id,
            _cm.c.kind,
            _cm.c.posted_at,
            *[_cm.c[d] for d in DIMENSIONS],
            *((_cm.c.propensity, _cm.c.propensities, _cm.c.policy) if decisions else ()),
        )
        .where(
            _cm.c.account == bindparam("account"),
            _cm.c.status == POSTED,
            _cm.c.posted_at > bindparam("since"),
            _cm.c.posted_at <= bindparam("now"),
        )
        .order_by(_cm.c.posted_at, _cm.c.id)
    )
    for decisions in (False, True)
}
_fs = follower_snapshots
_FOLLOWERS = Prepared(
    select(_fs.c.observed_at, _fs.c.followers)
    .where(
        _fs.c.account == bindparam("account"),
        _fs.c.observed_at >= bindparam("since"),
        _fs.c.observed_at <= bindparam("now"),
    )
    .order_by(_fs.c.observed_at)
)
_RECENT_TOPICS = Prepared(
    select(_cm.c.topic)
    .where(
        _cm.c.account == bindparam("account"),
        or_(*[no_index(_cm.c.status) == s for s in (QUEUED, POSTING, POSTED)]),
    )
    .order_by(_cm.c.id.desc())
    .limit(RECENT_TOPICS)
)


def chunks(ids: Sequence[str], size: int = 900) -> list[list[str]]:
    """Id lists short enough for an IN (...) on every database, so that it walks an index."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class SqlHistoryRecords:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def database(self, conn: Connection) -> str:
        return str(conn.engine.url)

    def posted_count(self, conn: Connection, account: str, since: datetime, now: datetime) -> int:
        return int(_POSTED_COUNT.run(conn, {"account": account, "since": since, "now": now}).scalar_one())

    def snapshot_mark(self, conn: Connection, account: str, now: datetime, after: int = 0) -> int | None:
        mark: int | None = _MARK.run(conn, {"after": after, "account": account, "now": now}).scalar_one()
        return mark

    def snapshots_between(self, conn: Connection, account: str, after: int, mark: int) -> list[Any]:
        return self.store.run(conn, _BETWEEN, {"account": account, "after": after, "mark": mark}).all()

    def posts(self, conn: Connection, account: str, since: datetime, now: datetime, decisions: bool) -> list[Any]:
        return self.store.run(conn, _POSTS[decisions], {"account": account, "since": since, "now": now}).all()

    def topics_before(self, conn: Connection, account: str, when: datetime) -> list[str]:
        cm = content_metadata
        rows = conn.execute(
            select(cm.c.topic)
            .where(cm.c.account == account, cm.c.status == POSTED, cm.c.posted_at <= when)
            .order_by(cm.c.posted_at.desc(), cm.c.id.desc())
            .limit(RECENT_TOPICS)
        ).scalars()
        return list(reversed(list(rows)))

    def latest_snapshots(self, conn: Connection, decision_ids: Sequence[str], now: datetime) -> list[Any]:
        ms = metric_snapshots
        rows: list[Any] = []
        # by id lists, so that the database walks its (decision_id, checkpoint) index
        for chunk in chunks(decision_ids):
            latest = select(func.max(ms.c.id)).where(ms.c.decision_id.in_(chunk), ms.c.observed_at <= now)
            rows += conn.execute(
                _SNAPSHOT_COLUMNS.where(ms.c.id.in_(latest.group_by(ms.c.decision_id).scalar_subquery()))
            ).all()
        return rows

    def all_snapshots(self, conn: Connection, decision_ids: Sequence[str], now: datetime) -> list[Any]:
        ms = metric_snapshots
        rows: list[Any] = []
        for chunk in chunks(decision_ids):
            rows += conn.execute(_SNAPSHOT_COLUMNS.where(ms.c.decision_id.in_(chunk), ms.c.observed_at <= now)).all()
        return rows

    def followers(self, conn: Connection, account: str, since: datetime, now: datetime) -> list[tuple[datetime, int]]:
        return _FOLLOWERS.run(conn, {"account": account, "since": since, "now": now}).all()

    def recent_topics(self, conn: Connection, account: str) -> list[str]:
        return list(reversed(_RECENT_TOPICS.run(conn, {"account": account}).scalars()))
