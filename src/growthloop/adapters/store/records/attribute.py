"""Attribution's records (ports.AttributionRecords) on SqlStore: the posts whose figures are not final, and
their post_attribution rows.

Built once with bind parameters: building them cost more than SQLite takes to run them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from growthloop.adapters.store.prepared import Prepared, PreparedInsert
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, post_attribution
from growthloop.domain import POSTED

_cm, _pa = content_metadata, post_attribution
# The posted posts whose figures are not final, each with its attribution row's id (None before its first):
# by the (account, posted_at) index and then the post's attribution row by its unique decision_id.
_OPEN = (_pa.c.final.is_(None)) | (_pa.c.final.is_(False))
_COLUMNS = (_cm.c.decision_id, _cm.c.tweet_id, _cm.c.posted_at, _pa.c.id.label("attribution_id"))
_JOINED = _cm.outerjoin(_pa, _pa.c.decision_id == _cm.c.decision_id)
_MINE = (_cm.c.account == bindparam("account"), _cm.c.status == POSTED, _cm.c.posted_at <= bindparam("now"))
_PENDING = Prepared(select(*_COLUMNS).select_from(_JOINED).where(*_MINE, _OPEN).order_by(_cm.c.posted_at))
# The same over the posts posted since `since` only: what a running process asks, once it has seen that
# every older post is final.
_PENDING_SINCE = Prepared(
    select(*_COLUMNS)
    .select_from(_JOINED)
    .where(*_MINE, _cm.c.posted_at >= bindparam("since"), _OPEN)
    .order_by(_cm.c.posted_at)
)
FIGURES = (
    "followers_before",
    "followers_2h",
    "followers_24h",
    "followers_48h",
    "window_delta",
    "attributed_followers",
    "attributed_sd",
    "missing_reason",
    "method",
    "method_version",
    "final",
    "updated_at",
)
_UPDATE = Prepared(update(_pa).where(_pa.c.decision_id == bindparam("key")).values({f: bindparam(f) for f in FIGURES}))
_INSERT = PreparedInsert(_pa)


class SqlAttributionRecords:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def pending(self, conn: Connection, account: str, now: datetime, since: datetime | None = None) -> list[Any]:
        if since is None:
            return self.store.run(conn, _PENDING, {"account": account, "now": now}).all()
        return self.store.run(conn, _PENDING_SINCE, {"account": account, "now": now, "since": since}).all()

    def write(
        self, conn: Connection, inserts: Sequence[Mapping[str, Any]], updates: Sequence[Mapping[str, Any]]
    ) -> None:
        if inserts:
            self.store.run_insert(conn, _INSERT, inserts)
        if updates:
            self.store.run(conn, _UPDATE, updates)
