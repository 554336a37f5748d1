"""X's usage endpoint (`GET /2/usage/tweets`): the fields asked for and the answer read into plain numbers, so that
doctor can set X's own count beside what growthloop recorded. The call itself is the X adapter's
(adapters/platforms/x/usage.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from growthloop.errors import PlatformError

APP_BEARER = "GROWTHLOOP_X_APP_BEARER_TOKEN"
USAGE_FIELDS: list[Any] = ["daily_project_usage", "project_usage", "project_cap", "cap_reset_day"]


@dataclass(frozen=True)
class XUsage:
    days: dict[str, int]  # UTC day -> posts X counted
    project_usage: int | None
    project_cap: int | None


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def parse_usage(body: object) -> XUsage:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise PlatformError("X GET /2/usage/tweets: the answer has no data object")
    daily = data.get("daily_project_usage")
    entries = daily.get("usage") if isinstance(daily, dict) else None
    days: dict[str, int] = {}
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and isinstance(e.get("date"), str):
            days[e["date"][:10]] = _int(e.get("usage")) or 0
    return XUsage(days, _int(data.get("project_usage")), _int(data.get("project_cap")))
