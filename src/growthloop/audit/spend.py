"""Platform spend as `status`, `growthloop spend` and doctor show it (the recording is adapters/metering/):
per day and month, per purpose, per post, per reply and per attributed follower against the budget; the
recount of the recorded calls; doctor's checks of the budget, the month's pace and X's credits; and X's
own count, GET /2/usage/tweets (the project's daily Post consumption) through the SDK xdk, beside what
growthloop recorded. That endpoint takes an app-only Bearer Token, which acting for the account does not
need: it comes from GROWTHLOOP_X_APP_BEARER_TOKEN (a secret: the environment or `.env` only). Without it,
doctor says the comparison was not made, and why."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from growthloop import redact
from growthloop.adapters.metering.usage import month_bounds, recount, spent_micros, utc_day, utc_month
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, platform_usage, post_attribution
from growthloop.bootstrap import read_x_usage as read_usage
from growthloop.config import Settings
from growthloop.domain import POSTED
from growthloop.errors import PlatformError
from growthloop.spend.budget import budget_state, next_month
from growthloop.spend.prices import price_table, usd
from growthloop.spend.x_usage import APP_BEARER

if TYPE_CHECKING:
    import requests  # only named in annotations: the module is loaded by the X adapter, where it is used

    from growthloop.audit.doctor import Check, CheckContext

_pu, _cm, _pa = platform_usage, content_metadata, post_attribution


def _ratio(micros: int, n: float) -> float | None:
    return None if n <= 0 else round(usd(micros) / n, 4)


def month_projection(month_micros: int, now: datetime) -> tuple[float, float]:
    """(share of the month elapsed, the month's spend at this rate, in micro-dollars)."""
    start = datetime.fromisoformat(month_bounds(utc_month(now))[0]).replace(tzinfo=UTC)
    end = next_month(now)
    elapsed = (now - start) / (end - start)
    return elapsed, (month_micros / elapsed if elapsed > 0 else 0.0)


def spend_status(conn: Connection, settings: Settings, account: str, now: datetime) -> dict[str, Any]:
    day = utc_day(now)
    first, end = month_bounds(utc_month(now))
    today = spent_micros(conn, account, day, day + "~")
    month = spent_micros(conn, account, first, end)
    by_purpose = {
        str(p): usd(int(m))
        for p, m in conn.execute(
            select(_pu.c.purpose, func.sum(_pu.c.cost_micros))
            .where(_pu.c.account == account, _pu.c.day >= first, _pu.c.day < end)
            .group_by(_pu.c.purpose)
            .order_by(_pu.c.purpose)
        )
    }
    start = datetime.fromisoformat(first).replace(tzinfo=UTC)
    posted: dict[str, int] = dict(
        conn.execute(
            select(_cm.c.kind, func.count())
            .where(_cm.c.account == account, _cm.c.status == POSTED, _cm.c.posted_at >= start, _cm.c.posted_at <= now)
            .group_by(_cm.c.kind)
        ).all()
    )
    followers = float(
        conn.execute(
            select(func.coalesce(func.sum(_pa.c.attributed_followers), 0.0)).where(
                _pa.c.account == account, _pa.c.posted_at >= start, _pa.c.posted_at <= now
            )
        ).scalar_one()
    )
    reply_micros = int(
        conn.execute(
            select(func.coalesce(func.sum(_pu.c.cost_micros), 0)).where(
                _pu.c.account == account, _pu.c.day >= first, _pu.c.day < end, _pu.c.purpose == "reply"
            )
        ).scalar_one()
    )
    priced = "x" if settings.platform == "sim" else settings.platform  # the simulator charges X's prices
    reserve = price_table(priced, settings.spend.prices).unit("post_create")
    state = budget_state(settings.spend, today, month, now, reserve=reserve)
    elapsed, projected = month_projection(month, now)
    note = credits_note_from(conn, account)
    return {
        "today_usd": usd(today),
        "month_usd": usd(month),
        "month": utc_month(now),
        "by_purpose_month_usd": by_purpose,
        "daily_budget_usd": settings.spend.daily_budget_usd,
        "monthly_budget_usd": settings.spend.monthly_budget_usd,
        "level": str(state.level),
        "reason": state.reason,
        "projected_month_usd": round(usd(int(projected)), 2),
        "month_elapsed": round(elapsed, 4),
        "posts_month": int(posted.get("post", 0)),
        "replies_month": int(posted.get("reply", 0)),
        "attributed_followers_month": round(followers, 2),
        "usd_per_post": _ratio(month - reply_micros, posted.get("post", 0)),
        "usd_per_reply": _ratio(reply_micros, posted.get("reply", 0)),
        "usd_per_attributed_follower": _ratio(month, followers),
        "credits_exhausted": note,
    }


def credits_note_from(conn: Connection, account: str) -> dict[str, str] | None:
    from growthloop.adapters.metering.state import CREDITS_KEY
    from growthloop.adapters.store.tables import app_state

    raw = conn.execute(
        select(app_state.c.value).where(app_state.c.account == account, app_state.c.key == CREDITS_KEY)
    ).scalar()
    return dict(raw) if isinstance(raw, dict) else None


def platform_spend(store: SqlStore, settings: Settings, now: datetime) -> dict[str, Any]:
    with store.connect() as conn:
        return spend_status(conn, settings, settings.account, now)


def _cents(micros: int) -> float:
    return round(usd(micros), 2)


def spend_report(store: SqlStore, account: str) -> dict[str, Any]:
    """Spend per day and per category from the recorded rows (SQL sums), beside the recount (Python, row by row
    with the deduplication replayed): `growthloop spend` prints both, and they must agree to the cent."""
    with store.connect() as conn:
        rows = conn.execute(
            select(
                _pu.c.day,
                _pu.c.purpose,
                _pu.c.category,
                func.count(),
                func.sum(_pu.c.billed),
                func.sum(_pu.c.cost_micros),
            )
            .where(_pu.c.account == account)
            .group_by(_pu.c.day, _pu.c.purpose, _pu.c.category)
            .order_by(_pu.c.day, _pu.c.purpose, _pu.c.category)
        ).all()
    by_day: dict[str, int] = defaultdict(int)
    by_purpose: dict[str, int] = defaultdict(int)
    by_category: dict[str, int] = defaultdict(int)
    for day, purpose, category, _calls, _billed, micros in rows:
        by_day[day] += int(micros)
        by_purpose[purpose] += int(micros)
        by_category[category] += int(micros)
    again = recount(store, account)
    days = sorted(set(by_day) | set(again.by_day))
    return {
        "account": account,
        "calls": sum(int(r[3]) for r in rows),
        "total_usd": usd(sum(by_day.values())),
        "recount_total_usd": usd(again.total),
        "days": [
            {"day": d, "recorded_usd": usd(by_day.get(d, 0)), "recount_usd": usd(again.by_day.get(d, 0))} for d in days
        ],
        "purposes": {
            p: {"recorded_usd": usd(by_purpose.get(p, 0)), "recount_usd": usd(again.by_purpose.get(p, 0))}
            for p in sorted(set(by_purpose) | set(again.by_purpose))
        },
        "categories": {
            c: {"recorded_usd": usd(by_category.get(c, 0)), "recount_usd": usd(again.by_category.get(c, 0))}
            for c in sorted(set(by_category) | set(again.by_category))
        },
        "equal_to_the_cent": all(_cents(by_day.get(d, 0)) == _cents(again.by_day.get(d, 0)) for d in days)
        and all(
            _cents(by_purpose.get(p, 0)) == _cents(again.by_purpose.get(p, 0))
            for p in set(by_purpose) | set(again.by_purpose)
        )
        and again.dedup_mismatches == 0,
        "dedup_mismatches": again.dedup_mismatches,
    }


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


def platform_spend_checks(c: CheckContext) -> list[Check]:
    from growthloop.audit.doctor import FAIL, PASS, SKIP, WARN, Check

    s = spend_status(c.conn, c.settings, c.account, c.now)
    budgets = [
        f"{name} ${v:.2f}"
        for name, v in (("daily", s["daily_budget_usd"]), ("monthly", s["monthly_budget_usd"]))
        if v is not None
    ]
    measured = (
        f"${s['today_usd']:.2f} today (UTC), ${s['month_usd']:.2f} in {s['month']}; "
        f"${s['usd_per_post'] if s['usd_per_post'] is not None else 'n/a'} per post"
    )
    expected = "within " + " and ".join(budgets) if budgets else "a platform budget (none set)"
    out: list[Check] = []
    note = s["credits_exhausted"]
    if note is not None:
        out.append(
            Check(
                "platform.credits",
                FAIL,
                f"the platform refused calls for want of credits since {note['at']}: {note['message']}",
                "prepaid credits left",
                "the X app's prepaid credits, or its spending limit for the billing cycle, are spent; "
                "posts stay queued",
                "add credits (or enable auto-recharge, or raise the spending limit) in the Developer Console at "
                "console.x.com; growthloop tries again every hour and the note clears at the first call that "
                "goes through",
            )
        )
    if s["month_usd"] == 0 and not budgets:
        out.append(Check("platform.spend", SKIP, "nothing spent on platform calls this month", expected))
        return out
    if s["level"] == "stopped":
        out.append(
            Check(
                "platform.spend",
                FAIL,
                measured,
                expected,
                s["reason"],
                "raise spend.daily_budget_usd or "
                "spend.monthly_budget_usd, or wait for the next UTC day or month; nothing queued is lost",
            )
        )
    elif s["level"] == "degraded":
        out.append(
            Check(
                "platform.spend",
                WARN,
                measured,
                expected,
                s["reason"],
                "raise the budget if learning suffers (fewer late checkpoints, no topic search, no link posts)",
            )
        )
    else:
        out.append(Check("platform.spend", PASS, measured, expected))
    monthly = s["monthly_budget_usd"]
    projected = s["projected_month_usd"]
    if monthly is not None and s["month_elapsed"] >= 1 / 31 and projected > monthly:
        out.append(
            Check(
                "platform.spend_rate",
                WARN,
                f"${s['month_usd']:.2f} after {s['month_elapsed']:.0%} of {s['month']}: ${projected:.2f} at this rate",
                f"at most the monthly budget ${monthly:.2f}",
                f"at this rate the budget is spent when {monthly / projected:.0%} of the month has passed "
                f"(now {s['month_elapsed']:.0%}): the loop will degrade, then stop before the month ends",
                "raise spend.monthly_budget_usd, post less (posts_per_hour), or turn topic search off "
                "(replies.search_queries = [] or x.search = false)",
            )
        )
    elif monthly is not None:
        out.append(
            Check(
                "platform.spend_rate",
                PASS,
                f"${s['month_usd']:.2f} so far, ${projected:.2f} projected for {s['month']}",
                f"at most the monthly budget ${monthly:.2f}",
            )
        )
    return out


def x_usage(
    settings: Settings,
    store: SqlStore,
    now: datetime,
    session_setup: Callable[[requests.Session], None] | None = None,
) -> Check:
    """Doctor's comparison of X's usage endpoint with the recorded post reads (for an X account)."""
    with store.connect() as conn:
        ours, theirs, why = usage_comparison(
            conn, settings.account, settings.x.base_url, now, session_setup=session_setup
        )
    return x_usage_check(ours, theirs, why)


def x_usage_check(recorded_posts: dict[str, int], x_days: dict[str, int] | None, error: str | None) -> Check:
    """X's daily Post consumption (GET /2/usage/tweets) against the posts growthloop recorded as billed."""
    from growthloop.audit.doctor import PASS, SKIP, WARN, Check

    if error is not None:
        return Check("platform.usage", SKIP, f"X's usage endpoint was not read: {error}", "X's count beside ours")
    assert x_days is not None
    days = sorted(d for d in x_days if d in recorded_posts or x_days[d])
    ours = sum(recorded_posts.get(d, 0) for d in days)
    theirs = sum(x_days[d] for d in days)
    measured = f"X counts {theirs} posts read over {len(days)} days, growthloop recorded {ours} billed post reads"
    expected = "X's count at least ours (the project may hold other apps) and within 10% when growthloop is alone"
    if theirs < ours or (ours and theirs > 1.1 * ours):
        return Check(
            "platform.usage",
            WARN,
            measured,
            expected,
            "growthloop's deduplication or price model differs from X's bill, or other apps in the X project "
            "read posts",
            "compare per day with `growthloop spend --json` and the Developer Console's usage page",
        )
    return Check("platform.usage", PASS, measured, expected)
