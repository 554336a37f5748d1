"""The stages' records (the record protocols of `growthloop.ports`) on SqlStore, SQLite and PostgreSQL.

Each module holds one stage's statements, prepared once (module constants, compiled once per dialect) and
sent as the stage always sent them; a method runs on the connection of the stage's own `begin()` or
`connect()` block, so the stage keeps its transactions and its commit points. `SqlRecords` gathers them;
`bootstrap.make_records` builds it once per wiring, with the account lease's check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from growthloop.adapters.store.records.attribute import SqlAttributionRecords
from growthloop.adapters.store.records.history import SqlHistoryRecords
from growthloop.adapters.store.records.learn import SqlLearnRecords
from growthloop.adapters.store.records.measure import SqlMeasureRecords
from growthloop.adapters.store.records.plan import SqlPlanRecords
from growthloop.adapters.store.records.policy import SqlPolicyRecords
from growthloop.adapters.store.records.post import SqlPostRecords
from growthloop.adapters.store.records.reply import SqlReplyRecords

if TYPE_CHECKING:
    from growthloop.adapters.store.store import SqlStore
    from growthloop.ports import LeaseCheck


class SqlRecords:
    """Every stage's records on one SqlStore. Without `lease` (a reader: status, listings, the web pages),
    the post records refuse the lease checks."""

    def __init__(self, store: SqlStore, lease: LeaseCheck | None = None) -> None:
        self.store = store
        self.post = SqlPostRecords(store, lease)
        self.plan = SqlPlanRecords(store)
        self.reply = SqlReplyRecords(store)
        self.measure = SqlMeasureRecords(store)
        self.attribution = SqlAttributionRecords(store)
        self.history = SqlHistoryRecords(store)
        self.learn = SqlLearnRecords(store)
        self.policy = SqlPolicyRecords(store)


__all__ = [
    "SqlAttributionRecords",
    "SqlHistoryRecords",
    "SqlLearnRecords",
    "SqlMeasureRecords",
    "SqlPlanRecords",
    "SqlPolicyRecords",
    "SqlPostRecords",
    "SqlRecords",
    "SqlReplyRecords",
]
