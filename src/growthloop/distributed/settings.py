"""Each account's settings (the registry's `settings_for`), and which accounts the dispatcher serves."""

from __future__ import annotations

from sqlalchemy import select

from growthloop.accounts import get_account, list_accounts, settings_for
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import app_state
from growthloop.config import Settings


def account_settings(store: SqlStore, base: Settings, name: str) -> Settings:
    """The settings of account `name` (its own file, platform and world over `base`); unknown: UsageError."""
    return settings_for(get_account(store, name), base)


def dispatched_accounts(store: SqlStore) -> list[str]:
    """The accounts whose jobs the dispatcher publishes on the real clock: every account not removed (a paused
    one's slots pass without a message), except a simulation's (its time is virtual: `simulate --accounts`)."""
    with store.connect() as conn:
        simulated = set(conn.execute(select(app_state.c.account).where(app_state.c.key == "sim_world_text")).scalars())
    return [a.name for a in list_accounts(store) if a.name not in simulated]
