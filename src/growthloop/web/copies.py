"""A database of many accounts made from one simulated account, for the dashboard's benchmark.

Simulating 100 accounts for 30 days takes hours on a small machine; this copies one simulated account's rows
(every table that carries an account, app_state with its model and simulation state included) N times
through the store, each copy under a new account name, with its decision ids and the simulator's platform
ids prefixed so that the unique keys hold. The copies are identical in content; what the benchmark measures,
how a page's queries scale with the rows of other accounts beside the one shown, does not depend on that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts, metadata, sim_posts

RELABELLED = ("decision_id", "request_key")  # the keys of a post, unique over the whole database
CHUNK = 5000


def copy_name(i: int) -> str:
    return f"copy{i:03d}"


def _account_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if "account" in t.c and t is not accounts]


def copy_account(
    source: SqlStore,
    target: SqlStore,
    account: str,
    copies: int,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
    """Write `copies` relabelled copies of `account` from `source` into `target` (upgraded first)."""
    target.upgrade()
    rows: dict[str, list[dict[str, Any]]] = {}
    with source.connect() as conn:
        registered = conn.execute(select(accounts).where(accounts.c.name == account)).one()
        for table in _account_tables():
            rows[table.name] = [dict(r._mapping) for r in conn.execute(select(table).where(table.c.account == account))]
    names = [copy_name(i) for i in range(copies)]
    for i, name in enumerate(names):
        with target.begin() as conn:
            conn.execute(
                accounts.insert().values(name=name, platform=registered.platform, created_at=registered.created_at)
            )
            for table in _account_tables():
                relabelled = [_relabel(table, r, name) for r in rows[table.name]]
                for start in range(0, len(relabelled), CHUNK):
                    conn.execute(table.insert(), relabelled[start : start + CHUNK])
        if progress is not None and (i + 1) % 10 == 0:
            progress(f"copied {i + 1}/{copies} accounts")
    return names


def _relabel(table: Table, row: dict[str, Any], name: str) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "id"}  # every `id` is a surrogate key: the target numbers its own
    out["account"] = name
    for key in RELABELLED:
        if out.get(key) is not None:
            out[key] = f"{name}-{out[key]}"
    if table is sim_posts:
        out["platform_id"] = f"{name}-{out['platform_id']}"
    return out
