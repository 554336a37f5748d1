"""The planner's policy and budget reads (ports.PolicyRecords) on SqlStore: the seed policy's window deltas, the
platform spend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, platform_usage, post_attribution
from growthloop.domain import DIMENSIONS, POSTED


class SqlPolicyRecords:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def window_deltas(self, conn: Connection, account: str) -> list[Any]:
        cm, pa = content_metadata, post_attribution
        return list(
            conn.execute(
                select(*[cm.c[d] for d in DIMENSIONS], pa.c.window_delta)
                .join(pa, pa.c.decision_id == cm.c.decision_id)
                .where(cm.c.account == account, cm.c.status == POSTED, cm.c.kind == "post")
            ).all()
        )

    def spent(self, conn: Connection, account: str, first_day: str, end_day: str) -> int:
        pu = platform_usage
        q = select(func.coalesce(func.sum(pu.c.cost_micros), 0)).where(
            pu.c.account == account, pu.c.day >= first_day, pu.c.day < end_day
        )
        return int(conn.execute(q).scalar_one())
