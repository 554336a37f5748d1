"""Spend as `status`, `growthloop spend` and doctor show it: per day and month, per purpose, per post, per reply
and per attributed follower, against the budget; and the recount of the recorded calls (usage.recount)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, platform_usage, post_attribution
from growthloop.config import Settings
from growthloop.domain import POSTED
from growthloop.spend.budget import budget_state, next_month
from growthloop.spend.prices import price_table, usd
from growthloop.spend.state import credits_note
from growthloop.spend.usage import month_bounds, recount, spent_micros, utc_day, utc_month

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
    from growthloop.adapters.store.tables import app_state
    from growthloop.spend.state import CREDITS_KEY

    raw = conn.execute(
        select(app_state.c.value).where(app_state.c.account == account, app_state.c.key == CREDITS_KEY)
    ).scalar()
    return dict(raw) if isinstance(raw, dict) else None


def platform_spend(store: SqlStore, settings: Settings, now: datetime) -> dict[str, Any]:
    with store.connect() as conn:
        return spend_status(conn, settings, settings.account, now)


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
    cents = lambda m: round(usd(m), 2)  # noqa: E731
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
        "equal_to_the_cent": all(cents(by_day.get(d, 0)) == cents(again.by_day.get(d, 0)) for d in days)
        and all(
            cents(by_purpose.get(p, 0)) == cents(again.by_purpose.get(p, 0))
            for p in set(by_purpose) | set(again.by_purpose)
        )
        and again.dedup_mismatches == 0,
        "dedup_mismatches": again.dedup_mismatches,
    }


__all__ = ["credits_note", "platform_spend", "spend_report", "spend_status"]
