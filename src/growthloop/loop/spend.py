"""The planner and the platform budget: while the budget is degraded or spent, no link posts are planned (a
create with a link costs 13x a plain one on X). The spend is read from `platform_usage` (adapters/metering/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from growthloop.adapters.store.tables import platform_usage
from growthloop.config import Settings
from growthloop.learning import Policy
from growthloop.learning.cost import PRICED_DIMENSION, cost_aware, settings_table
from growthloop.spend.budget import budget_state, month_days


def _spent(conn: Connection, account: str, first_day: str, end_day: str) -> int:
    pu = platform_usage
    q = select(func.coalesce(func.sum(pu.c.cost_micros), 0)).where(
        pu.c.account == account, pu.c.day >= first_day, pu.c.day < end_day
    )
    return int(conn.execute(q).scalar_one())


def budget_guard(policy: Policy, conn: Connection, settings: Settings, account: str, now: datetime) -> Policy:
    """`policy`, with the link values of the priced dimension never drawn while the budget is degraded."""
    if settings.spend.daily_budget_usd is None and settings.spend.monthly_budget_usd is None:
        return policy
    links = frozenset(v for v in policy.buckets.get(PRICED_DIMENSION, ()) if "link" in v)
    if not links:
        return policy
    day, first, end = month_days(now)
    state = budget_state(settings.spend, _spent(conn, account, day, day + "~"), _spent(conn, account, first, end), now)
    if not state.degraded:
        return policy
    return cost_aware(policy, settings_table(settings), "followers", None, links, settings.learning.temperature)
