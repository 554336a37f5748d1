"""LLM spend: the price table, one llm_usage row per call, the daily budget, and cost per posted item.

* ``call_cost``      tokens x the configured price; None (never a made-up price) for an unpriced model.
* ``record_usage``   one llm_usage row per API call that reported usage, failed answers included.
* ``budget_state``   what was spent today (the UTC day of the clock's now) against the daily budget:
                     NORMAL, then DEGRADED from ``degrade_at`` x budget (cheaper model, smaller
                     output), then STOPPED at the budget (no call is made; the draft is rejected).
* ``spend_summary`` / ``cost_per_posted_item``  LLM cost over posted items in a window (SPEC §3 I8).

Calls priced NULL are counted apart (``unpriced_calls``): the budget cannot count what it cannot
price, so doctor should warn about them rather than this module guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import structlog
from sqlalchemy import Connection, func, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, llm_usage
from growthloop.domain import POSTED
from growthloop.errors import GrowthloopError
from growthloop.llm_settings import LlmSettings, ModelPrice

log = structlog.get_logger("growthloop.llm")


def call_cost(prices: dict[str, ModelPrice], model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    price = prices.get(model)
    if price is None:
        return None
    return prompt_tokens / 1000 * price.prompt_per_1k + completion_tokens / 1000 * price.completion_per_1k


def record_usage(
    store: SqlStore,
    account: str,
    at: datetime,
    decision_id: str | None,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: dict[str, ModelPrice],
) -> float | None:
    """Insert one llm_usage row; returns its cost (None when the model has no price, with a warning)."""
    cost = call_cost(prices, model, prompt_tokens, completion_tokens)
    if cost is None:
        log.warning(
            "llm.unpriced_model",
            model=model,
            detail="no price for this model in the LLM price table: cost recorded as NULL and not counted "
            "against the daily budget; add it under llm.prices",
        )
    with store.begin() as conn:
        result = conn.execute(
            llm_usage.insert().values(
                account=account,
                at=at,
                decision_id=decision_id,
                model=model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost,
            )
        )
        if result.rowcount != 1:  # I6: every write is checked
            raise GrowthloopError(f"llm_usage insert wrote {result.rowcount} rows, expected 1")
    return cost


def utc_day(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Spend:
    """LLM calls in a window: the priced cost, and how many calls could not be priced."""

    since: datetime
    until: datetime
    cost_usd: float  # the sum over priced calls
    calls: int
    unpriced_calls: int


def spend_between(conn: Connection, account: str, since: datetime, until: datetime) -> Spend:
    u = llm_usage
    row = conn.execute(
        select(
            func.coalesce(func.sum(u.c.cost_usd), 0.0),
            func.count(),
            func.count() - func.count(u.c.cost_usd),
        ).where(u.c.account == account, u.c.at >= since, u.c.at < until)
    ).one()
    return Spend(since, until, float(row[0]), int(row[1]), int(row[2]))


class BudgetLevel(StrEnum):
    NORMAL = "normal"
    DEGRADED = "degraded"  # cheap_model and degraded_max_tokens
    STOPPED = "stopped"  # no more calls today


@dataclass(frozen=True)
class BudgetState:
    level: BudgetLevel
    today: Spend
    budget_usd: float | None
    degrade_at: float

    @property
    def reason(self) -> str:
        """One line. At the budget: "daily LLM budget reached (X of Y USD)", the writer's rejection reason."""
        spent = usd(self.today.cost_usd)
        if self.budget_usd is None:
            return f"no daily LLM budget ({spent} USD spent today)"
        budget = usd(self.budget_usd)
        if self.level is BudgetLevel.STOPPED:
            return f"daily LLM budget reached ({spent} of {budget} USD)"
        if self.level is BudgetLevel.DEGRADED:
            past = f"{self.degrade_at:.0%}"
            return f"daily LLM budget past {past} ({spent} of {budget} USD): cheaper model, shorter output"
        return f"{spent} of {budget} USD spent today"


def usd(x: float) -> str:
    """Cents, or two significant digits below a cent."""
    return f"{x:.2g}" if 0 < x < 0.01 else f"{x:.2f}"


def budget_level(spent_usd: float, budget_usd: float | None, degrade_at: float) -> BudgetLevel:
    if budget_usd is None:
        return BudgetLevel.NORMAL
    if spent_usd >= budget_usd:
        return BudgetLevel.STOPPED
    if spent_usd >= degrade_at * budget_usd:
        return BudgetLevel.DEGRADED
    return BudgetLevel.NORMAL


def budget_state(conn: Connection, account: str, now: datetime, settings: LlmSettings) -> BudgetState:
    """Today's spend (the UTC day of `now`) against the daily budget. Doctor can call this too."""
    since, until = utc_day(now)
    today = spend_between(conn, account, since, until)
    level = budget_level(today.cost_usd, settings.daily_budget_usd, settings.degrade_at)
    return BudgetState(level, today, settings.daily_budget_usd, settings.degrade_at)


@dataclass(frozen=True)
class SpendSummary:
    spend: Spend
    posted: int  # items posted in the window

    @property
    def cost_per_posted_item(self) -> float | None:
        """None when nothing was posted, or when some calls could not be priced (the total is unknown)."""
        if self.posted == 0 or self.spend.unpriced_calls:
            return None
        return self.spend.cost_usd / self.posted


def spend_summary(store: SqlStore, account: str, since: datetime, until: datetime) -> SpendSummary:
    cm = content_metadata
    with store.connect() as conn:
        spend = spend_between(conn, account, since, until)
        posted = conn.execute(
            select(func.count())
            .select_from(cm)
            .where(cm.c.account == account, cm.c.status == POSTED, cm.c.posted_at >= since, cm.c.posted_at < until)
        ).scalar_one()
    return SpendSummary(spend, int(posted))


def cost_per_posted_item(store: SqlStore, account: str, since: datetime, until: datetime) -> float | None:
    """LLM cost in [since, until) over the items posted in [since, until) (SPEC §3 I8).

    None when nothing was posted in the window, or when some calls had no price (unknown total).
    """
    return spend_summary(store, account, since, until).cost_per_posted_item
