"""The measuring stages' records (ports.MeasureRecords) on SqlStore: the posts due a metrics snapshot, the
metric and follower snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, exists, literal, select, union_all

from growthloop.adapters.store.prepared import Prepared, PreparedInsert
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, metric_snapshots
from growthloop.domain import POSTED


@lru_cache(maxsize=16)
def _bands_query(names: tuple[str, ...]) -> Prepared:
    """One statement for every band, built once: SQLAlchemy's per-call construction of a seven-way
    union costs a hundred times what SQLite takes to run it."""
    cm, ms = content_metadata, metric_snapshots
    bands = []
    for i, name in enumerate(names):
        taken = exists().where(ms.c.decision_id == cm.c.decision_id, ms.c.checkpoint == name)
        bands.append(
            select(cm.c.decision_id, cm.c.tweet_id, literal(name).label("checkpoint")).where(
                cm.c.account == bindparam("account"),
                cm.c.status == POSTED,
                cm.c.posted_at <= bindparam(f"newest_{i}"),
                cm.c.posted_at > bindparam(f"oldest_{i}"),
                ~taken,
            )
        )
    return Prepared(union_all(*bands))


_INSERT_METRICS = PreparedInsert(metric_snapshots)
_INSERT_FOLLOWERS = PreparedInsert(follower_snapshots)


class SqlMeasureRecords:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def due(
        self, conn: Connection, account: str, bands: Sequence[tuple[str, datetime, datetime]]
    ) -> list[tuple[str, str, str]]:
        params: dict[str, object] = {"account": account}
        for i, (_name, newest, oldest) in enumerate(bands):
            params[f"newest_{i}"] = newest
            params[f"oldest_{i}"] = oldest
        rows = self.store.run(conn, _bands_query(tuple(name for name, _, _ in bands)), params)
        return [(r.decision_id, r.tweet_id, r.checkpoint) for r in rows]

    def add_metrics(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        _INSERT_METRICS.run(conn, rows)

    def add_followers(self, conn: Connection, account: str, observed_at: datetime, followers: int, source: str) -> None:
        _INSERT_FOLLOWERS.run(conn, dict(account=account, observed_at=observed_at, followers=followers, source=source))
