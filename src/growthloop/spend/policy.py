"""The planner counting the cost (learning/cost.py), from the settings: the price table of the account's
platform (the simulator's: X's), `spend.objective`, `spend.max_cost_per_post`; and, while the budget is
degraded, no link posts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from growthloop.config import Settings
from growthloop.learning.cost import PRICED_DIMENSION, cost_aware
from growthloop.learning.policies import Policy
from growthloop.spend.prices import PriceTable, price_table


def settings_table(settings: Settings) -> PriceTable:
    return price_table("x" if settings.platform == "sim" else settings.platform, settings.spend.prices)


def counting_cost(policy: Policy, settings: Settings, blocked: frozenset[str] = frozenset()) -> Policy:
    s = settings.spend
    return cost_aware(
        policy, settings_table(settings), s.objective, s.max_cost_per_post, blocked, settings.learning.temperature
    )


def budget_guard(policy: Policy, conn: Connection, settings: Settings, account: str, now: datetime) -> Policy:
    """While the platform budget is degraded or spent, the planner plans no link posts (their create is 13x a
    plain one): `policy` with the link values of the priced dimension never drawn."""
    if settings.spend.daily_budget_usd is None and settings.spend.monthly_budget_usd is None:
        return policy
    links = frozenset(v for v in policy.buckets.get(PRICED_DIMENSION, ()) if "link" in v)
    if not links:
        return policy
    from growthloop.spend.budget import budget_state
    from growthloop.spend.usage import month_bounds, spent_micros, utc_day, utc_month

    day = utc_day(now)
    first, end = month_bounds(utc_month(now))
    state = budget_state(
        settings.spend, spent_micros(conn, account, day, day + "~"), spent_micros(conn, account, first, end), now
    )
    if not state.degraded:
        return policy
    return cost_aware(policy, settings_table(settings), "followers", None, links, settings.learning.temperature)
