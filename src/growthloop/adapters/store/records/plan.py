"""The planner's records (ports.PlanRecords) on SqlStore: the queue's depth, the recent posts, new content rows.

Built once: planning runs every half hour, and building a statement costs more than SQLite takes to run it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    # the newest rows down by the primary key: by the (account, status) index it would read every post ever
    .where(no_index(_cm.c.account) == bindparam("account"), or_(*[no_index(_cm.c.status) == s for s in LIVE]))
    .order_by(_cm.c.id.desc())
    .limit(bindparam("n"))
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


class SqlPlanRecords:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def statuses_of_text(self, conn: Connection, account: str, sha: str) -> list[str]:
        return self.store.run(conn, _SAME_TEXT_P, {"account": account, "sha": sha}).scalars()

    def latest(self, conn: Connection, account: str, n: int) -> list[Any]:
        return self.store.run(conn, _RECENT, {"account": account, "n": n}).all()

    def content_count(self, conn: Connection, account: str) -> int:
        return int(self.store.run(conn, _COUNT, {"account": account}).scalar_one())

    def queue_depth(self, conn: Connection, account: str) -> int:
        return int(self.store.run(conn, _DEPTH, {"account": account}).scalar_one())

    def add_content(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        self.store.run_insert(conn, INSERT_CONTENT, rows)
