"""Doctor's checks of the platform spend: the budget, the month's pace, credits at the platform; and X's own
usage endpoint against what growthloop recorded (spend/xusage.py, a network call: only with credentials)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

    from growthloop.adapters.store.store import SqlStore
    from growthloop.audit.doctor import Check, Context
    from growthloop.config import Settings


def platform_spend_checks(c: Context) -> list[Check]:
    from growthloop.audit.doctor import FAIL, PASS, SKIP, WARN, Check
    from growthloop.spend.report import spend_status

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
    from growthloop.spend.xusage import usage_comparison

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
