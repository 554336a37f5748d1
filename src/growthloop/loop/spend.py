"""The planner and the platform budget: while the budget is degraded or spent, no link posts are planned (a
create with a link costs 13x a plain one on X). The spend is read from `platform_usage` (adapters/metering/)."""

from __future__ import annotations

from datetime import datetime

from growthloop.config import Settings
from growthloop.learning import Policy
from growthloop.learning.cost import PRICED_DIMENSION, cost_aware, settings_table
from growthloop.ports import Connection, Records
from growthloop.spend.budget import budget_state, month_days


def budget_guard(
    policy: Policy, records: Records, conn: Connection, settings: Settings, account: str, now: datetime
) -> Policy:
    """`policy`, with the link values of the priced dimension never drawn while the budget is degraded."""
    if settings.spend.daily_budget_usd is None and settings.spend.monthly_budget_usd is None:
        return policy
    links = frozenset(v for v in policy.buckets.get(PRICED_DIMENSION, ()) if "link" in v)
    if not links:
        return policy
    day, first, end = month_days(now)
    spent = records.policy.spent
    state = budget_state(settings.spend, spent(conn, account, day, day + "~"), spent(conn, account, first, end), now)
    if not state.degraded:
        return policy
    return cost_aware(policy, settings_table(settings), "followers", None, links, settings.learning.temperature)
