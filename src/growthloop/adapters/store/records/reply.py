"""The reply stage's records (ports.ReplyRecords) on SqlStore: the opportunities found, scored and acted on.

Built once with bind parameters: the reply job runs every hour, and building a statement costs more than
SQLite takes to run it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from growthloop.adapters.store.prepared import Prepared, PreparedInsert
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, reply_opportunities
from growthloop.domain import QUEUED

NEW, DRAFTED, SKIPPED_REPLY = "new", "drafted", "skipped"

_ro = reply_opportunities
_LAST_FOUND = Prepared(select(func.max(_ro.c.created_at)).where(_ro.c.account == bindparam("account")))
_KNOWN = Prepared(
    select(_ro.c.platform_id).where(_ro.c.account == bindparam("account"), _ro.c.found_at > bindparam("since"))
)
_STALE = Prepared(
    update(_ro)
    .where(
        _ro.c.account == bindparam("of_account"),
        _ro.c.status == NEW,
        (_ro.c.created_at < bindparam("oldest")) | (_ro.c.score < bindparam("min_score")),
    )
    .values(
        status=SKIPPED_REPLY, status_reason="too old or scored below replies.min_score", updated_at=bindparam("now")
    )
)
# the columns the stage acts on (not the score's parts, a JSON read back for nothing at every run)
_CANDIDATES = Prepared(
    select(
        _ro.c.id,
        _ro.c.platform_id,
        _ro.c.kind,
        _ro.c.author,
        _ro.c.author_followers,
        _ro.c.text,
        _ro.c.created_at,
        _ro.c.score,
    )
    .where(_ro.c.account == bindparam("account"), _ro.c.status == NEW)
    .order_by(_ro.c.score.desc())
    .limit(50)
)
_WAITING = Prepared(
    select(func.count())
    .select_from(content_metadata)
    .where(
        content_metadata.c.account == bindparam("account"),
        content_metadata.c.kind == "reply",
        content_metadata.c.status == QUEUED,
    )
)
_DRAFTED = Prepared(
    select(func.count()).select_from(_ro).where(_ro.c.account == bindparam("account"), _ro.c.status == DRAFTED)
)
_INSERT = PreparedInsert(_ro)
_ACTED = Prepared(
    update(_ro)
    .where(_ro.c.id == bindparam("opportunity"))
    .values(
        status=bindparam("new_status"),
        status_reason=bindparam("reason"),
        decision_id=bindparam("decision"),
        updated_at=bindparam("now"),
    )
)


class SqlReplyRecords:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def last_found(self, conn: Connection, account: str) -> datetime | None:
        found: datetime | None = self.store.run(conn, _LAST_FOUND, {"account": account}).scalar()
        return found

    def known(self, conn: Connection, account: str, since: datetime) -> set[str]:
        return set(self.store.run(conn, _KNOWN, {"account": account, "since": since}).scalars())

    def add_opportunities(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        self.store.run_insert(conn, _INSERT, rows)

    def skip_stale(self, conn: Connection, account: str, oldest: datetime, min_score: float, now: datetime) -> int:
        limits = {"oldest": oldest, "min_score": min_score, "now": now}
        return self.store.run(conn, _STALE, {"of_account": account} | limits).rowcount

    def candidates(self, conn: Connection, account: str) -> list[Any]:
        return self.store.run(conn, _CANDIDATES, {"account": account}).all()

    def replies_waiting(self, conn: Connection, account: str) -> int:
        return int(self.store.run(conn, _WAITING, {"account": account}).scalar_one())

    def drafted(self, conn: Connection, account: str) -> int:
        return int(self.store.run(conn, _DRAFTED, {"account": account}).scalar_one())

    def acted(
        self, conn: Connection, opportunity: int, status: str, reason: str | None, decision_id: str, now: datetime
    ) -> None:
        self.store.run(
            conn,
            _ACTED,
            {"opportunity": opportunity, "new_status": status, "reason": reason, "decision": decision_id}
            | {"now": now},
        )

    def opportunity(self, conn: Connection, account: str, opportunity_id: int) -> Any:
        ro = reply_opportunities
        return conn.execute(select(ro).where(ro.c.account == account, ro.c.id == opportunity_id)).first()

    def approve_content(self, conn: Connection, decision_id: str, now: datetime) -> None:
        cm = content_metadata
        conn.execute(
            update(cm)
            .where(cm.c.decision_id == decision_id)
            .values(status=QUEUED, status_reason="approved by a person", updated_at=now)
        )

    def settle_opportunity(
        self, conn: Connection, opportunity_id: int, status: str, reason: str, now: datetime
    ) -> None:
        ro = reply_opportunities
        conn.execute(
            update(ro).where(ro.c.id == opportunity_id).values(status=status, status_reason=reason, updated_at=now)
        )

    def listing(self, conn: Connection, account: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        ro, cm = reply_opportunities, content_metadata
        query = (
            select(ro, cm.c.content.label("reply"))
            .outerjoin(cm, cm.c.decision_id == ro.c.decision_id)
            .where(ro.c.account == account)
            .order_by(ro.c.score.desc())
            .limit(limit)
        )
        if status:
            query = query.where(ro.c.status == status)
        return [dict(r._mapping) for r in conn.execute(query)]
