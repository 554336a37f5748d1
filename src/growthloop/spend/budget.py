"""The platform budget, per account, per UTC day and per UTC calendar month.

ok        below `degrade_at` (default 80%) of both budgets
degraded  past it: the loop spends less where it hurts learning least (metrics checkpoints later than
          `late_checkpoint` are skipped, topic search is off, link posts are not planned)
stopped   at a budget: no paid call is made until the next UTC day (daily) or month (monthly); posts
          stay queued (BudgetExhausted is a RateLimited), reads already paid for today stay free
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from growthloop.spend.prices import to_micros, usd
from growthloop.spend.settings import SpendSettings


class Level(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    STOPPED = "stopped"


@dataclass(frozen=True)
class BudgetState:
    level: Level
    day_micros: int
    month_micros: int
    reason: str | None = None
    until: datetime | None = None  # when a stop ends: the next UTC midnight or the first of the next month

    @property
    def degraded(self) -> bool:
        return self.level != Level.OK

    @property
    def stopped(self) -> bool:
        return self.level == Level.STOPPED


def next_day(now: datetime) -> datetime:
    d = now.astimezone(UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)


def next_month(now: datetime) -> datetime:
    d = now.astimezone(UTC)
    return datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)


def budget_state(
    settings: SpendSettings, day_micros: int, month_micros: int, now: datetime, extra: int = 0, reserve: int = 0
) -> BudgetState:
    """The level with `extra` micro-dollars more spent (the price of a write about to be made). A budget with
    less than `reserve` left (the price of the cheapest post) is spent: not even a plain post fits."""
    checks = (
        ("daily", settings.daily_budget_usd, day_micros, next_day(now)),
        ("monthly", settings.monthly_budget_usd, month_micros, next_month(now)),
    )
    degraded: str | None = None
    for name, budget, spent, until in checks:
        if budget is None:
            continue
        cap = to_micros(budget)
        if spent + max(extra, reserve) > cap or spent >= cap:
            return BudgetState(
                Level.STOPPED,
                day_micros,
                month_micros,
                f"the {name} platform budget is spent (${usd(spent):.3f} of ${budget:.2f}; the next call would not "
                f"fit): no paid platform call "
                f"until {until.isoformat()}; queued posts wait. Raise spend.{name}_budget_usd to resume sooner",
                until,
            )
        if degraded is None and spent >= settings.degrade_at * cap:
            degraded = (
                f"past {settings.degrade_at:.0%} of the {name} platform budget (${usd(spent):.2f} of ${budget:.2f}): "
                f"metrics checkpoints after {settings.late_checkpoint}, topic search and link posts are off"
            )
    if degraded is not None:
        return BudgetState(Level.DEGRADED, day_micros, month_micros, degraded)
    return BudgetState(Level.OK, day_micros, month_micros)


def month_days(now: datetime) -> tuple[str, str, str]:
    """(today, the month's first day, the next month's first day) as UTC `YYYY-MM-DD` strings."""
    d = now.astimezone(UTC)
    return d.strftime("%Y-%m-%d"), d.strftime("%Y-%m-01"), next_month(now).strftime("%Y-%m-%d")
