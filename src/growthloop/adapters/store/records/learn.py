"""Learn's records (ports.LearnRecords) on SqlStore: the attributed figures it learns from, the performance
tables it writes and everyone reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from growthloop.adapters.store.prepared import Prepared
from growthloop.adapters.store.records.history import chunks
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import performance_tables, post_attribution
from growthloop.domain import DIMENSIONS, STAT_FIELDS, ValueStats

_pa = post_attribution
_FIGURES = select(
    _pa.c.decision_id, _pa.c.attributed_followers, _pa.c.attributed_sd, _pa.c.updated_at, _pa.c.final
).where(_pa.c.decision_id.in_(bindparam("ids", expanding=True)))

# The same, by the post_attribution(account, posted_at) index: the figures still moving are the newest ones.
_FIGURES_SINCE = Prepared(
    select(_pa.c.decision_id, _pa.c.attributed_followers, _pa.c.attributed_sd, _pa.c.updated_at, _pa.c.final).where(
        _pa.c.account == bindparam("account"), _pa.c.posted_at >= bindparam("since")
    )
)


@lru_cache(maxsize=4)
def _table_writes(dialect: str) -> dict[str, tuple[Prepared, Prepared, Prepared]]:
    """Per dimension, the upsert of its rows and the delete of the values no longer there: built once per
    dialect (learn runs every two hours, and building these cost more than running them)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    writes = {}
    for dim in DIMENSIONS:
        table = performance_tables[dim]
        stmt = insert(table).values({c: bindparam(c) for c in ("account", dim, "updated_at", *STAT_FIELDS)})
        # Upsert by value, so that a row keeps its id and learning twice leaves the table identical.
        upsert = Prepared(
            stmt.on_conflict_do_update(
                index_elements=["account", dim], set_={c: stmt.excluded[c] for c in ("updated_at", *STAT_FIELDS)}
            )
        )
        writes[dim] = (upsert, _VALUES[dim], _GONE[dim])
    return writes


# The values a table holds, and the delete of one that learn no longer writes (by its unique (account, value)):
# prepared, where a `NOT IN` of the kept values would be built anew at every run.
_VALUES = {
    dim: Prepared(select(t.c[dim]).where(t.c.account == bindparam("account"))) for dim, t in performance_tables.items()
}
_GONE = {
    dim: Prepared(delete(t).where(t.c.account == bindparam("account"), t.c[dim] == bindparam("value")))
    for dim, t in performance_tables.items()
}


def _row(account: str, stats: ValueStats, as_of: datetime) -> dict[str, Any]:
    return {
        "account": account,
        stats.dimension: stats.value,
        "updated_at": as_of,
        **{f: getattr(stats, f) for f in STAT_FIELDS},
    }


_TABLE_READS = {
    dim: select(t).where(t.c.account == bindparam("account")).order_by(t.c[dim])
    for dim, t in performance_tables.items()
}


class SqlLearnRecords:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def figures(self, conn: Connection, decision_ids: Sequence[str]) -> list[Any]:
        rows: list[Any] = []
        # by the ids, so that the database walks its decision_id index, not the account's whole history
        for chunk in chunks(decision_ids):
            rows += conn.execute(_FIGURES, {"ids": chunk})
        return rows

    def figures_since(self, conn: Connection, account: str, since: datetime) -> list[Any]:
        return self.store.run(conn, _FIGURES_SINCE, {"account": account, "since": since}).all()

    def final_decisions(self, conn: Connection, account: str) -> set[str]:
        return set(
            conn.execute(
                select(post_attribution.c.decision_id).where(
                    post_attribution.c.account == account, post_attribution.c.final.is_(True)
                )
            ).scalars()
        )

    def write_performance(self, conn: Connection, account: str, stats: Sequence[ValueStats], as_of: datetime) -> None:
        for dim, (upsert, values, gone) in _table_writes(self.store.dialect).items():
            rows = [_row(account, s, as_of) for s in stats if s.dimension == dim]
            if rows:
                self.store.run(conn, upsert, rows)
            keep = {r[dim] for r in rows}
            stale = [v for v in self.store.run(conn, values, {"account": account}).scalars() if v not in keep]
            if stale:
                self.store.run(conn, gone, [{"account": account, "value": v} for v in stale])

    def performance(self, conn: Connection, account: str) -> dict[str, list[ValueStats]]:
        out: dict[str, list[ValueStats]] = {}
        for dim, query in _TABLE_READS.items():
            out[dim] = [
                ValueStats(dimension=dim, value=r._mapping[dim], **{f: r._mapping[f] for f in STAT_FIELDS})
                for r in conn.execute(query, {"account": account})
            ]
        return out
