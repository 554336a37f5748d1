"""Platform spend (spend/, adapters/platforms/metered.py): every call priced and recorded, X's same-UTC-day
deduplication, the budget that degrades then stops without losing a post, and the recount to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from growthloop.adapters.metering.portcalls import create_category
from growthloop.adapters.metering.usage import Call, UsageBook, recount
from growthloop.adapters.platforms.metered import MeteredPlatform
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, platform_usage, post_attempts
from growthloop.audit.doctor import FAIL, run_doctor
from growthloop.audit.spend import platform_spend, spend_report
from growthloop.bootstrap import ensure_account
from growthloop.config import Settings, load_settings
from growthloop.domain import Capabilities, Mention, PostMetrics, PublishReceipt, PublishRequest
from growthloop.errors import BudgetExhausted
from growthloop.simulation import plan_simulation, run_simulation
from growthloop.spend.budget import Level, budget_state
from growthloop.spend.prices import X_DEFAULT_PRICES, price_table, to_micros
from growthloop.spend.settings import SpendSettings

NOON = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _book(store: SqlStore, settings: Settings) -> UsageBook:
    ensure_account(store, settings, NOON)
    return UsageBook(store, settings.account, price_table("x", {}))


def test_x_prices_are_the_published_ones() -> None:
    assert X_DEFAULT_PRICES["post_create"] == 0.015
    assert X_DEFAULT_PRICES["post_create_url"] == 0.200  # 13.3 x a plain post
    assert X_DEFAULT_PRICES["post_create_summoned"] == 0.010
    assert X_DEFAULT_PRICES["post_read"] == 0.005
    assert X_DEFAULT_PRICES["user_read"] == 0.010
    assert X_DEFAULT_PRICES["owned_read"] == 0.001
    assert price_table("mastodon", {}).free and price_table("bluesky", {}).free
    assert price_table("mastodon", {"mastodon": {"post_create": 0.5}}).unit("post_create") == 500_000


def test_a_post_read_twice_in_one_utc_day_is_charged_once(store: SqlStore, settings: Settings) -> None:
    book = _book(store, settings)
    read = Call("GET /2/tweets", "post_read", "metrics", ("post:1", "post:2"))
    assert book.record([read], NOON) == 2 * 5_000
    assert book.record([read, Call("GET /2/tweets", "post_read", "metrics", ("post:2", "post:3"))], NOON) == 5_000
    # a restart (a new book) still knows what was charged today
    again = UsageBook(store, settings.account, price_table("x", {}))
    assert again.record([read], NOON + timedelta(hours=11)) == 0
    # the next UTC day charges again
    assert again.record([read], NOON + timedelta(hours=12)) == 2 * 5_000
    with store.connect() as conn:
        billed = conn.execute(select(platform_usage.c.day, platform_usage.c.billed).order_by(platform_usage.c.id)).all()
    assert [tuple(r) for r in billed] == [
        ("2026-03-10", 2),
        ("2026-03-10", 0),
        ("2026-03-10", 1),
        ("2026-03-10", 0),
        ("2026-03-11", 2),
    ]
    r = recount(store, settings.account)
    assert r.total == r.recorded_total == 5 * 5_000 and r.dedup_mismatches == 0


def test_a_link_post_costs_what_x_charges_for_a_url() -> None:
    assert create_category("Sleep resets memory. Read more at example.com/sleep", summoned=False) == "post_create_url"
    assert create_category("Sleep resets memory.", summoned=False) == "post_create"
    assert create_category("Thanks, good question.", summoned=True) == "post_create_summoned"
    assert create_category("Thanks: https://example.org", summoned=True) == "post_create_url"


def test_the_budget_degrades_then_stops() -> None:
    s = SpendSettings(daily_budget_usd=1.0, monthly_budget_usd=10.0, degrade_at=0.8)
    assert budget_state(s, to_micros(0.5), to_micros(5), NOON).level == Level.OK
    assert budget_state(s, to_micros(0.8), to_micros(5), NOON).level == Level.DEGRADED
    stopped = budget_state(s, to_micros(1.0), to_micros(5), NOON)
    assert stopped.level == Level.STOPPED and stopped.until == datetime(2026, 3, 11, tzinfo=UTC)
    assert "daily platform budget is spent" in (stopped.reason or "")
    monthly = budget_state(s, to_micros(0.1), to_micros(10), NOON)
    assert monthly.stopped and monthly.until == datetime(2026, 4, 1, tzinfo=UTC)
    # a write that would cross the budget is refused before it is made
    assert budget_state(s, to_micros(0.9), to_micros(5), NOON, extra=to_micros(0.2)).stopped
    # with less left than the cheapest post, the budget is spent
    assert budget_state(s, to_micros(0.99), to_micros(5), NOON, reserve=to_micros(0.015)).stopped
    assert not budget_state(s, to_micros(0.98), to_micros(5), NOON, reserve=to_micros(0.015)).stopped


class _Stub:
    """A platform that answers everything, for the wrapper alone."""

    name = "x"

    def capabilities(self) -> Capabilities:
        return Capabilities(impressions=True, profile_clicks=True, unsummoned_replies=False, search=True)

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        return PublishReceipt("100", ("100",), now)

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        return None

    def metrics(self, platform_ids: list[str], now: datetime) -> list[PostMetrics]:
        return [PostMetrics(p, 1, 1, 0, 0, 0, 0, None, None) for p in platform_ids]

    def follower_count(self, now: datetime) -> int:
        return 10

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        return []

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        return [Mention("7", "search", "someone", 5, "hi", now)]


def test_past_the_budget_nothing_paid_is_called(store: SqlStore, settings: Settings) -> None:
    ensure_account(store, settings, NOON)
    spend = SpendSettings(daily_budget_usd=0.03, degrade_at=0.5)
    m = MeteredPlatform(_Stub(), store, settings.account, price_table("x", {}), spend)  # type: ignore[arg-type]
    assert len(m.search_recent("sleep", NOON)) == 1  # ok: $0.005 + $0.010
    assert m.state(NOON).level == Level.DEGRADED and m.search_recent("sleep", NOON) == []  # search goes first
    assert m.capabilities().search is False
    m.publish(PublishRequest("k1", ("A plain post",)), NOON)  # $0.015: $0.030 in all
    with pytest.raises(BudgetExhausted, match="daily platform budget is spent"):
        m.publish(PublishRequest("k2", ("Another post",)), NOON)
    with pytest.raises(BudgetExhausted):
        m.follower_count(NOON)  # users/me not read yet today: it would be charged
    # post 7 was paid for today (search returned it): reading it again is free, post 8 is not read
    assert [p.platform_id for p in m.metrics(["7", "8"], NOON)] == ["7"]
    assert m.mentions(NOON - timedelta(hours=1), NOON) == []
    with store.connect() as conn:
        total = conn.execute(select(func.sum(platform_usage.c.cost_micros))).scalar_one()
    assert total <= to_micros(0.03) + to_micros(0.01)


def _simulate(tmp_path: object, days: float, **spend: object) -> tuple[SqlStore, Settings, datetime]:
    url = f"sqlite:///{tmp_path}/spend.db"
    store = SqlStore(url)
    store.upgrade()
    settings = load_settings(None, database_url=url, seed=7, spend=spend or None)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    plan = plan_simulation(None, 7, days, start)
    run_simulation(store, settings, plan, resume=False)
    return store, settings, start + timedelta(days=days)


def _check_recount(store: SqlStore, settings: Settings) -> dict[str, object]:
    report = spend_report(store, settings.account)
    assert report["equal_to_the_cent"] is True
    assert report["dedup_mismatches"] == 0
    for d in report["days"]:  # type: ignore[attr-defined]
        assert round(d["recorded_usd"], 2) == round(d["recount_usd"], 2)
    for v in report["purposes"].values():  # type: ignore[attr-defined]
        assert round(v["recorded_usd"], 2) == round(v["recount_usd"], 2)
    # every post published was charged as a create
    with store.connect() as conn:
        creates = conn.execute(select(func.count()).where(platform_usage.c.endpoint == "POST /2/tweets")).scalar_one()
        posted_parts = sum(
            len(r.part_ids or [1])
            for r in conn.execute(select(content_metadata.c.part_ids).where(content_metadata.c.status == "posted"))
        )
    assert creates == posted_parts
    return report


def test_three_days_on_x_prices_recount_to_the_cent(tmp_path: object) -> None:
    store, settings, _ = _simulate(tmp_path, 3)
    report = _check_recount(store, settings)
    assert report["total_usd"] > 1  # type: ignore[operator]
    assert set(report["purposes"]) >= {"post", "reply", "metrics", "followers", "mentions", "search"}  # type: ignore[arg-type]
    store.dispose()


@pytest.mark.slow
def test_thirty_days_on_x_prices_recount_to_the_cent(tmp_path: object) -> None:
    store, settings, _ = _simulate(tmp_path, 30)
    report = _check_recount(store, settings)
    assert len(report["days"]) >= 30  # type: ignore[arg-type]
    store.dispose()


def test_a_budget_below_the_months_need_degrades_then_stops_and_loses_no_post(tmp_path: object) -> None:
    """Three simulated days need about $7 on X's prices; a $4 month degrades at $3.20 and stops at $4."""
    store, settings, end = _simulate(tmp_path, 3, monthly_budget_usd=4.0, degrade_at=0.8)
    with store.connect() as conn:
        rows = conn.execute(select(platform_usage).order_by(platform_usage.c.id)).all()
        statuses = dict(
            conn.execute(select(content_metadata.c.status, func.count()).group_by(content_metadata.c.status)).all()
        )
        skipped_why = set(
            conn.execute(
                select(content_metadata.c.status_reason).where(content_metadata.c.status == "skipped")
            ).scalars()
        )
        refused = conn.execute(select(func.count()).where(post_attempts.c.error.like("rate limited%"))).scalar_one()
    spent, degraded_at, stopped_at = 0, None, None
    for r in rows:
        if degraded_at is not None:
            assert r.purpose != "search", "topic search goes on past the degrade point"
        spent += r.cost_micros
        if degraded_at is None and spent >= to_micros(3.2):
            degraded_at = r.at
    assert degraded_at is not None
    last_create = max(r.at for r in rows if r.endpoint == "POST /2/tweets")
    assert spent <= to_micros(4.0) + to_micros(0.5)  # one read call's overshoot at most
    assert last_create < end - timedelta(hours=6), "posting never stopped"
    stopped_at = last_create
    assert degraded_at < stopped_at
    # while degraded (before the stop), no metrics checkpoint later than 24 h was read
    with store.connect() as conn:
        posted_at = dict(conn.execute(select(content_metadata.c.tweet_id, content_metadata.c.posted_at)).all())
    late = [
        (r.at, p)
        for r in rows
        if r.purpose == "metrics" and degraded_at < r.at <= stopped_at
        for p in (x.removeprefix("post:") for x in r.resource_ids)
        if p in posted_at and r.at - posted_at[p] > timedelta(hours=24, minutes=30)
    ]
    assert late == []
    assert any(r.purpose == "metrics" and r.at > degraded_at for r in rows)  # the early checkpoints go on
    # nothing lost: no post failed, none was skipped but by the gate or as a draft for a person, and the ones
    # refused for the budget went back to the queue
    assert statuses.get("failed", 0) == 0
    assert all(w.startswith(("rejected by the gate", "draft awaiting approval")) for w in skipped_why), skipped_why
    assert statuses.get("queued", 0) >= 1 and refused >= 1
    # the reason, in doctor and status
    checks = {c.name: c for c in run_doctor(store, settings, settings.account, end)}
    assert checks["platform.spend"].state == FAIL
    assert "monthly platform budget is spent" in (checks["platform.spend"].cause or "")
    status = platform_spend(store, settings, end)
    assert status["level"] == "stopped" and "queued posts wait" in status["reason"]
    _check_recount(store, settings)
    store.dispose()


def _spent(store: SqlStore, account: str, at: datetime, usd_: float) -> None:
    with store.begin() as conn:
        conn.execute(
            platform_usage.insert().values(
                account=account,
                platform="x",
                endpoint="POST /2/tweets",
                category="post_create",
                purpose="post",
                at=at,
                day=at.strftime("%Y-%m-%d"),
                resources=1,
                billed=1,
                unit_micros=to_micros(usd_),
                cost_micros=to_micros(usd_),
                resource_ids=[],
            )
        )


def test_doctor_warns_of_a_pace_that_would_spend_the_month_early_and_alerts_when_it_stops(
    store: SqlStore, settings: Settings
) -> None:
    from growthloop.audit.alerts import AlertNotifier
    from growthloop.audit.doctor import WARN

    ensure_account(store, settings, NOON)
    budgeted = settings.model_copy(update={"spend": SpendSettings(monthly_budget_usd=60.0)})
    _spent(store, settings.account, NOON, 25.0)  # $25 by March 10: $77 at this pace
    checks = {c.name: c for c in run_doctor(store, budgeted, settings.account, NOON)}
    assert checks["platform.spend"].state == "pass"
    rate = checks["platform.spend_rate"]
    assert rate.state == WARN and "at this rate the budget is spent when" in (rate.cause or "")
    sent: list[dict[str, object]] = []
    notifier = AlertNotifier(store, settings.account, "https://hooks.example/T", send=lambda _u, p: sent.append(p))
    notifier.notify(run_doctor(store, budgeted, settings.account, NOON), NOON)
    _spent(store, settings.account, NOON, 35.0)  # the month's $60 is spent
    later = run_doctor(store, budgeted, settings.account, NOON + timedelta(minutes=5))
    notifier.notify(later, NOON + timedelta(minutes=5))
    texts = [str(p) for p in sent]
    assert any("platform.spend" in t and "monthly platform budget is spent" in t for t in texts), texts
