"""X's own count: GET /2/usage/tweets (the project's daily Post consumption), through the SDK xdk, beside what
growthloop recorded. The endpoint takes an app-only Bearer Token, which acting for the account does not need:
it comes from GROWTHLOOP_X_APP_BEARER_TOKEN (a secret: the environment or `.env` only). Without it, doctor
says the comparison was not made, and why."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import Connection, func, select

from growthloop import redact
from growthloop.adapters.store.tables import platform_usage
from growthloop.errors import PlatformError
from growthloop.spend.usage import utc_day

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


def read_usage(
    base_url: str,
    token: str,
    days: int = 7,
    timeout: float = 30.0,
    session_setup: Callable[[requests.Session], None] | None = None,
) -> XUsage:
    """X's daily Post consumption over the last `days` days (1 to 90)."""
    import xdk

    from growthloop.adapters.platforms.x.edge import TimeoutAdapter

    client = xdk.Client(base_url=base_url.rstrip("/"), bearer_token=token)
    seen: list[requests.Response] = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
    for prefix in ("https://", "http://"):
        client.session.mount(prefix, TimeoutAdapter(timeout))
    if session_setup is not None:
        session_setup(client.session)
    try:
        client.usage.get(days=days, usage_fields=USAGE_FIELDS)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        hint = {401: f"the app-only Bearer Token in {APP_BEARER} was refused", 403: "the X app's plan lacks it"}
        raise PlatformError(f"X GET /2/usage/tweets: {status}: {hint.get(status or 0, 'refused')}") from None
    except requests.RequestException as exc:
        raise PlatformError(f"X GET /2/usage/tweets: {type(exc).__name__}") from None
    except Exception:  # noqa: BLE001  the SDK's model may refuse a body: it is read raw below
        pass
    if not seen:
        raise PlatformError("X GET /2/usage/tweets: no answer")
    try:
        body = seen[-1].json()
    except ValueError:
        raise PlatformError("X GET /2/usage/tweets: the body is not JSON") from None
    return parse_usage(body)


def recorded_post_reads(conn: Connection, account: str, first_day: str) -> dict[str, int]:
    """UTC day -> posts growthloop recorded as billed reads (Posts: Read and owned reads), from `first_day`."""
    pu = platform_usage
    rows = conn.execute(
        select(pu.c.day, func.sum(pu.c.billed))
        .where(pu.c.account == account, pu.c.day >= first_day, pu.c.category.in_(("post_read", "owned_read")))
        .group_by(pu.c.day)
    ).all()
    return {str(d): int(n) for d, n in rows}


def usage_comparison(
    conn: Connection,
    account: str,
    base_url: str,
    now: datetime,
    days: int = 7,
    session_setup: Callable[[requests.Session], None] | None = None,
) -> tuple[dict[str, int], dict[str, int] | None, str | None]:
    """(growthloop's post reads per day, X's per day or None, why X was not read)."""
    ours = recorded_post_reads(conn, account, utc_day(now - timedelta(days=days - 1)))
    token = os.environ.get(APP_BEARER, "").strip()
    if not token:
        return ours, None, f"{APP_BEARER} is not set (the usage endpoint takes an app-only Bearer Token)"
    try:
        usage = read_usage(base_url, token, days, session_setup=session_setup)
    except PlatformError as exc:
        return ours, None, redact.scrub(str(exc), [token])
    return ours, usage.days, None
