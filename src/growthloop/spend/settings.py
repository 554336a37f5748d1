"""SpendSettings: the `[spend]` table of the settings (prices, budgets, how the loop degrades, what it learns for)."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from growthloop.spend.prices import PLATFORMS, check_price


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _budget(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):  # the environment gives every value as text
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a number of dollars") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: {value!r} is not a number of dollars")
    if not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"{name}: {value!r} must be a finite amount of at least 0 dollars")
    return float(value)


class SpendSettings(_Strict):
    prices: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="per platform (x, mastodon, bluesky), price category -> USD per request or resource; "
        "over X's published prices (spend/prices.py); other platforms are free unless set",
    )
    daily_budget_usd: float | None = Field(default=None, description="platform spend per UTC day; None: no budget")
    monthly_budget_usd: float | None = Field(
        default=None, description="platform spend per UTC calendar month; None: no budget"
    )
    degrade_at: float = Field(
        default=0.8, gt=0, le=1, description="share of a budget past which the loop spends less (then stops at 1)"
    )
    late_checkpoint: str = Field(
        default="24h", description="while degraded, metrics checkpoints later than this are skipped"
    )
    objective: Literal["followers", "followers_per_dollar"] = Field(
        default="followers", description="what the planner maximises: followers, or followers per dollar spent"
    )
    max_cost_per_post: float | None = Field(
        default=0.25, description="a content choice dearer than this per post is never planned; None: no cap"
    )
    owned_window_hours: int = Field(
        default=48, ge=0, le=720, description="X: posts this young are measured through the owned timeline"
    )

    @field_validator("prices", mode="before")
    @classmethod
    def _prices(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise ValueError("prices must be a table of platforms, e.g. [spend.prices.x]")
        out: dict[str, dict[str, float]] = {}
        for platform, table in v.items():
            if platform not in PLATFORMS:
                raise ValueError(f"prices: unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
            if not isinstance(table, dict):
                raise ValueError(f"prices.{platform} must be a table of endpoint = dollars")
            out[platform] = {str(k): check_price(platform, str(k), p) for k, p in table.items()}
        return out

    @field_validator("daily_budget_usd", "monthly_budget_usd", "max_cost_per_post", mode="before")
    @classmethod
    def _dollars(cls, v: Any, info: Any) -> float | None:
        return _budget(info.field_name, v)

    @field_validator("late_checkpoint", mode="before")
    @classmethod
    def _late(cls, v: Any) -> str:
        _seconds(v)
        return str(v)

    @model_validator(mode="after")
    def _consistent(self) -> SpendSettings:
        d, m = self.daily_budget_usd, self.monthly_budget_usd
        if d is not None and m is not None and d > m:
            raise ValueError(f"daily_budget_usd ({d}) is more than monthly_budget_usd ({m})")
        return self

    def late_checkpoint_seconds(self) -> int:
        return _seconds(self.late_checkpoint)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(value: Any) -> int:
    """'24h', '2d', '90m' -> seconds, from 1 s to 30 days (as config.parse_duration, which this floor cannot import)."""
    match = _DURATION.match(str(value)) if not isinstance(value, bool) else None
    if not match:
        raise ValueError(f"{value!r} is not a duration such as '24h' or '2d'")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 1 <= seconds <= 30 * 86400:
        raise ValueError(f"{value!r} is not a duration from 1 second to 30 days")
    return int(seconds)
