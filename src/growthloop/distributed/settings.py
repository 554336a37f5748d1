"""Each account's settings, and which accounts the dispatcher serves."""

from __future__ import annotations

from sqlalchemy import select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import app_state
from growthloop.bootstrap import account_names
from growthloop.config import Settings


def account_settings(store: SqlStore, base: Settings, name: str) -> Settings:
    """The settings of account `name`: the base settings with the account's own on top."""
    return base.model_copy(update={"account": name})


def dispatched_accounts(store: SqlStore) -> list[str]:
    """The accounts whose jobs the dispatcher publishes on the real clock: not a simulation's (their time is
    virtual: `simulate --accounts` drives them)."""
    with store.connect() as conn:
        simulated = set(conn.execute(select(app_state.c.account).where(app_state.c.key == "sim_world_text")).scalars())
    return [n for n in account_names(store) if n not in simulated]
