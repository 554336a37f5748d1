"""The planner's records (ports.PlanRecords) on SqlStore: the queue's depth, the recent posts, new content rows.

Built once: planning runs every half hour, and building a statement costs more than SQLite takes to run it.
The recent posts (the gate's 200 texts) are kept between runs (`_Recent`): a run reads only what may have
changed since the last one, and the database stays the truth.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, or_, select

from growthloop.adapters.store.prepared import Prepared, PreparedInsert, no_index
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata
from growthloop.domain import POSTED, POSTING, QUEUED

_cm = content_metadata
LIVE = (QUEUED, POSTING, POSTED)
# By (account, content_sha) only, with the status checked by the stage: a status condition in the query lets
# SQLite walk the (account, status) index instead, over every post ever posted.
_SAME_TEXT = select(_cm.c.status).where(_cm.c.account == bindparam("account"), _cm.c.content_sha == bindparam("sha"))
_SAME_TEXT_P = Prepared(_SAME_TEXT)
_RECENT = Prepared(
    select(_cm.c.topic, _cm.c.content)
    # the newest rows down by the (account, id) index: by the (account, status) index it would read every post
    # ever, and by the primary key every other account's rows since (all of them in a table that many
    # accounts share)
    .where(_cm.c.account == bindparam("account"), or_(*[no_index(_cm.c.status) == s for s in LIVE]))
    .order_by(_cm.c.id.desc())
    .limit(bindparam("n"))
)
_RECENT_ROWS = Prepared(
    select(_cm.c.id, _cm.c.status, _cm.c.topic, _cm.c.content)
    .where(_cm.c.account == bindparam("account"), or_(*[no_index(_cm.c.status) == s for s in LIVE]))
    .order_by(_cm.c.id.desc())
    .limit(bindparam("n"))
)
# every row from `since` up, whatever its status, by the (account, id) index: the rows written or still
# moving since the last read
_SINCE = Prepared(
    select(_cm.c.id, _cm.c.status, _cm.c.topic, _cm.c.content)
    .where(_cm.c.account == bindparam("account"), _cm.c.id >= bindparam("since"))
    .order_by(_cm.c.id)
)
# the live rows in [low, high), on the (account, id) index: by the (account, status) index, PostgreSQL walks
# every live row of the account to check its id
_LIVE_BETWEEN = Prepared(
    select(func.count())
    .select_from(_cm)
    .where(
        _cm.c.account == bindparam("account"),
        or_(*[no_index(_cm.c.status) == s for s in LIVE]),
        _cm.c.id >= bindparam("low"),
        _cm.c.id < bindparam("high"),
    )
)
_COUNT = Prepared(select(func.count()).select_from(_cm).where(_cm.c.account == bindparam("account")))
_DEPTH = Prepared(
    select(func.count())
    .select_from(_cm)
    .where(
        _cm.c.account == bindparam("account"),
        _cm.c.kind == "post",
        or_(_cm.c.status == QUEUED, _cm.c.status == POSTING),
    )
)
INSERT_CONTENT = PreparedInsert(_cm)


MARGIN = 32  # live rows kept beyond the `n` asked for, so that a skipped post rarely costs a full read


class RecentRow(NamedTuple):
    """A kept row: its columns by name at the cost of a tuple's (the planner reads 200 texts a run)."""

    id: int
    status: str
    topic: str
    content: str


@dataclass
class _Recent:
    """An account's newest live rows (id, status, topic, content), newest first, as last read.

    `low` is the lowest id the kept rows speak for: every live row from `low` up is kept, or (`complete`) every
    live row of the account is. `seen` is the highest id read, `moving` the lowest kept id not posted yet. A
    row's status moves queued -> posting -> posted | failed | skipped, and a person's approval moves a skipped
    reply to queued; posted is final and no row is deleted while the account runs. So between two runs only the
    rows from `moving` (or past `seen`) up can have changed or been written: they are read again, whole; below,
    a row can only have become live (an approval, or a row another process committed late), and then the count
    of live rows there is more than the kept ones: everything is read again.
    """

    n: int
    rows: list[Any]
    low: int
    seen: int
    complete: bool
    moving: int | None
    below: list[int] = field(default_factory=list)  # the kept ids negated (ascending), to bisect
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.below = [-row[0] for row in self.rows]


def _moving(rows: Sequence[Any]) -> int | None:
    return min((row[0] for row in rows if row[1] != POSTED), default=None)


class SqlPlanRecords:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._recent: dict[str, _Recent] = {}  # by account: this wiring's (records are built once per wiring)

    def statuses_of_text(self, conn: Connection, account: str, sha: str) -> list[str]:
        return self.store.run(conn, _SAME_TEXT_P, {"account": account, "sha": sha}).scalars()

    def latest(self, conn: Connection, account: str, n: int) -> list[Any]:
        """As `latest_fresh`, from the rows kept since the last call and the few read now."""
        kept = self._recent.get(account)
        if kept is None or kept.n < n or not self._refresh(conn, account, kept):
            kept = self._read_all(conn, account, n)
        return kept.rows[:n]

    def latest_fresh(self, conn: Connection, account: str, n: int) -> list[Any]:
        """The `n` newest live rows (topic, content), newest first, read from the database alone."""
        return self.store.run(conn, _RECENT, {"account": account, "n": n}).all()

    def _read_all(self, conn: Connection, account: str, n: int) -> _Recent:
        limit = n + MARGIN
        rows = [RecentRow(*row) for row in self.store.run(conn, _RECENT_ROWS, {"account": account, "n": limit})]
        low, seen = (rows[-1][0], rows[0][0]) if rows else (1, 0)
        kept = _Recent(n, rows, low=low, seen=seen, complete=len(rows) < limit, moving=_moving(rows))
        self._recent[account] = kept
        return kept

    def _refresh(self, conn: Connection, account: str, kept: _Recent) -> bool:
        """Bring `kept` up to date; False when it cannot be (everything is read again)."""
        with kept.lock:
            since = kept.seen + 1 if kept.moving is None else min(kept.seen + 1, kept.moving)
            low = 0 if kept.complete else kept.low
            cut = bisect.bisect_right(kept.below, -since)  # kept.rows[cut:] are those below `since`
            if low < since:  # below `since` a row can only have become live: the count says whether one did
                count = {"account": account, "low": low, "high": since}
                if int(self.store.run(conn, _LIVE_BETWEEN, count).scalar_one()) != len(kept.rows) - cut:
                    return False
            fresh = self.store.run(conn, _SINCE, {"account": account, "since": since}).all()
            newer = [RecentRow(*row) for row in reversed(fresh) if row[1] in LIVE]
            rows = newer + kept.rows[cut:]
            if len(rows) < kept.n and not kept.complete:
                return False  # rows left the set, and those below `low` are not kept
            limit = kept.n + MARGIN
            if len(rows) > limit:
                rows, kept.complete = rows[:limit], False
            kept.rows, kept.below = rows, [-row[0] for row in newer] + kept.below[cut:][: len(rows) - len(newer)]
            if not kept.complete and rows:
                kept.low = rows[-1][0]
            kept.moving = _moving(newer)
            if fresh:
                kept.seen = max(kept.seen, fresh[-1][0])
            return True

    def content_count(self, conn: Connection, account: str) -> int:
        return int(self.store.run(conn, _COUNT, {"account": account}).scalar_one())

    def queue_depth(self, conn: Connection, account: str) -> int:
        return int(self.store.run(conn, _DEPTH, {"account": account}).scalar_one())

    def add_content(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        self.store.run_insert(conn, INSERT_CONTENT, rows)
