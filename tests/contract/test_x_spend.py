"""What X charges, through the metered wrapper, against a fake that bills as X's pricing page says: the
recorded cost equals the fake's bill; credits running out (402 CreditsDepleted) stop posting and lose
nothing, and doctor says what to do; X's usage endpoint beside the recorded reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.metering.state import credits_note
from growthloop.adapters.platforms.metered import MeteredPlatform
from growthloop.adapters.store.tables import content_metadata, platform_usage
from growthloop.audit.doctor import FAIL, PASS, SKIP, WARN, run_doctor
from growthloop.audit.spend import x_usage
from growthloop.bootstrap import ensure_account
from growthloop.config import XConfig
from growthloop.domain import FAILED, POSTED, QUEUED, PublishRequest
from growthloop.errors import CreditsExhausted, RateLimited
from growthloop.jobs.runner import JobRunner
from growthloop.spend.prices import price_table
from growthloop.spend.settings import SpendSettings
from tests.conftest import START, Loop
from tests.contract.fake_x import FAKE_URL, FakeX, Fault
from tests.contract.test_x_behaviour import TOKEN, connect


def _metered(fake: FakeX, clock: Any, store: Any, account: str) -> MeteredPlatform:
    return MeteredPlatform(connect(fake, clock), store, account, price_table("x", {}), SpendSettings())


def _recorded(store: Any) -> float:
    with store.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(platform_usage.c.cost_micros), 0))).scalar_one()) / 1e6


def _statuses(store: Any) -> dict[str, int]:
    with store.connect() as conn:
        return dict(
            conn.execute(select(content_metadata.c.status, func.count()).group_by(content_metadata.c.status)).all()
        )


def test_every_x_call_is_charged_as_x_bills_it(store: Any, settings: Any) -> None:
    clock = VirtualClock(START)
    ensure_account(store, settings, START)
    fake = FakeX(clock, bearer=TOKEN)
    other = fake.add_user("1600000000000000002", "reader", 500)
    mention = fake.add_post(other, "@growthloop_acct how much sleep do teens need?", summoned=True)
    x = _metered(fake, clock, store, settings.account)
    plain = x.publish(PublishRequest("d1", ("Sleep is a skill.",)), START)
    x.publish(PublishRequest("d2", ("Why naps work: example.com/naps",)), START)  # with a URL: $0.20
    x.publish(PublishRequest("d3", ("About 8 to 10 hours.",), in_reply_to=mention.id), START)  # summoned: $0.01
    x.publish(PublishRequest("d4", ("Part one.", "Part two.")), START)
    clock.advance(20 * 60)
    x.metrics([plain.platform_id], clock.now())
    x.metrics([plain.platform_id], clock.now())  # the same post again today: not charged again
    assert x.follower_count(clock.now()) == 30 and x.follower_count(clock.now()) == 30
    assert [m.platform_id for m in x.mentions(START - timedelta(hours=1), clock.now())] == [mention.id]
    assert fake.spent > 0.25
    assert round(_recorded(store), 6) == round(fake.spent, 6)
    with store.connect() as conn:
        cats = dict(
            conn.execute(
                select(platform_usage.c.category, func.sum(platform_usage.c.billed)).group_by(platform_usage.c.category)
            ).all()
        )
    assert cats["post_create_url"] == 1 and cats["post_create_summoned"] == 1 and cats["post_create"] == 3
    assert cats["owned_read"] >= 1  # the mention, an owned read


def test_credits_running_out_stop_posting_lose_nothing_and_doctor_says_what_to_do(
    loop: Loop, store: Any, settings: Any
) -> None:
    fake = FakeX(loop.clock, bearer=TOKEN)
    fake.credits = 0.02  # one plain post, then slightly negative after the second, as X allows
    loop.wiring.platform = _metered(fake, loop.clock, store, settings.account)
    loop.run("plan")
    runner = JobRunner(loop.wiring)
    at = START
    for _ in range(4):
        runner.run("post", at)
        at += timedelta(minutes=31)
        loop.clock.advance(31 * 60)
    statuses = _statuses(store)
    # a thread cut by the 402 stays 'posting' until it can be reconciled; nothing failed, the rest is queued
    assert statuses.get(FAILED, 0) == 0 and statuses.get(QUEUED, 0) >= 2
    assert fake.credits is not None and fake.credits < 0 and len(fake.own_posts()) >= 1
    assert 402 in {r.status for r in fake.requests}
    note = credits_note(store, settings.account)
    assert note is not None and "CreditsDepleted" in note.message
    check = next(
        c for c in run_doctor(store, settings, settings.account, loop.clock.now()) if c.name == "platform.credits"
    )
    assert check.state == FAIL and "console.x.com" in (check.fix or "")
    # a direct call says so by name
    with pytest.raises(CreditsExhausted, match="add credits"):
        loop.wiring.platform.publish(PublishRequest("d-x", ("One more.",)), loop.clock.now())
    # credits added: the next post goes out and the note is gone
    fake.credits = 5.0
    before = len(fake.own_posts())
    for _ in range(2):
        at += timedelta(minutes=31)
        loop.clock.advance(31 * 60)
        runner.run("post", at)
    after = _statuses(store)
    assert len(fake.own_posts()) > before and after.get("posting", 0) == 0 and after.get(FAILED, 0) == 0
    assert after.get(POSTED, 0) >= 2 and credits_note(store, settings.account) is None
    names = {c.name for c in run_doctor(store, settings, settings.account, loop.clock.now())}
    assert "platform.credits" not in names


def test_x_usage_endpoint_beside_what_was_recorded(store: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = VirtualClock(START)
    ensure_account(store, settings, START)
    fake = FakeX(clock, bearer=TOKEN)
    fake.app_bearer = "app-only-8888"
    x = _metered(fake, clock, store, settings.account)
    posts = [x.publish(PublishRequest(f"d{i}", (f"Post number {i}.",)), START).platform_id for i in range(3)]
    clock.advance(20 * 60)
    x.metrics(posts, clock.now())
    on_x = settings.model_copy(update={"x": XConfig(base_url=FAKE_URL)})

    def mount(session: requests.Session) -> None:
        session.mount(FAKE_URL, fake)

    monkeypatch.delenv("GROWTHLOOP_X_APP_BEARER_TOKEN", raising=False)
    check = x_usage(on_x, store, clock.now(), mount)
    assert check.state == SKIP and "GROWTHLOOP_X_APP_BEARER_TOKEN" in check.measured
    monkeypatch.setenv("GROWTHLOOP_X_APP_BEARER_TOKEN", "wrong-9999")
    check = x_usage(on_x, store, clock.now(), mount)
    assert check.state == SKIP and "401" in check.measured and "wrong-9999" not in check.measured
    monkeypatch.setenv("GROWTHLOOP_X_APP_BEARER_TOKEN", "app-only-8888")
    check = x_usage(on_x, store, clock.now(), mount)
    assert check.state == PASS and "X counts 3 posts read" in check.measured and "recorded 3" in check.measured
    # reads growthloop did not record (another app in the project): X counts more, doctor warns
    fake.post_reads[START.strftime("%Y-%m-%d")] += 5
    assert x_usage(on_x, store, clock.now(), mount).state == WARN


def test_a_usage_cap_429_is_credits_not_a_rate_limit_to_wait_out(store: Any, settings: Any) -> None:
    """X's error types name `usage-capped` (a spending limit reached): not waited out like a 15-minute window."""
    clock = VirtualClock(START)
    fake = FakeX(clock, bearer=TOKEN)
    capped = {
        "title": "UsageCapExceeded",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": "https://api.twitter.com/2/problems/usage-capped",
    }
    fake.fail_next("GET /2/users/me", Fault("status", 429, {"x-rate-limit-remaining": "0"}, capped))
    x = connect(fake, clock)
    with pytest.raises(CreditsExhausted, match="spending limit"):
        x.follower_count(START)
    assert clock.now() == START  # nothing was waited for
    # an ordinary 429 is still a rate limit
    fake.fail_next("GET /2/users/me", Fault("status", 429, {}, {"title": "Too Many Requests"}))
    with pytest.raises(RateLimited) as limited:
        x.follower_count(START)
    assert not isinstance(limited.value, CreditsExhausted)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (402, {"title": "Payment Required"}),
        (402, {}),
        (429, {"title": "CreditsDepleted", "detail": "Your account does not have any credits"}),
        (403, {"detail": "Insufficient credit balance to complete this request"}),
        (429, {"title": "Usage cap exceeded", "detail": "Monthly product cap"}),
        (429, {"errors": [{"message": "You have reached the spending limit for this billing cycle"}]}),
    ],
)
def test_every_wording_of_spent_credits_is_credits_exhausted(
    store: Any, settings: Any, status: int, body: dict[str, Any]
) -> None:
    """By status and body: any 402, or a 403/429 whose answer names credits, a usage cap or a spending limit."""
    clock = VirtualClock(START)
    fake = FakeX(clock, bearer=TOKEN)
    fake.fail_next("GET /2/users/me", Fault("status", status, {"x-rate-limit-remaining": "0"}, body))
    x = connect(fake, clock)
    with pytest.raises(CreditsExhausted, match="add credits"):
        x.follower_count(START)
    assert clock.now() == START  # nothing was waited for


def test_own_young_posts_are_measured_through_the_owned_timeline(store: Any, settings: Any) -> None:
    """Owned Reads ($0.001 a post) for the account's posts younger than spend.owned_window_hours; older ones by
    lookup ($0.005); the counters are the same either way, and the bill is what X charges."""
    clock = VirtualClock(START)
    ensure_account(store, settings, START)
    fake = FakeX(clock, bearer=TOKEN)
    x = MeteredPlatform(
        connect(fake, clock, owned_window=timedelta(hours=48)),
        store,
        settings.account,
        price_table("x", {}),
        SpendSettings(),
    )
    old = x.publish(PublishRequest("old", ("An old post.",)), START).platform_id
    clock.advance(3 * 86400)
    young = [x.publish(PublishRequest(f"y{i}", (f"Young post {i}.",)), clock.now()).platform_id for i in range(3)]
    between = x.publish(PublishRequest("other", ("Not asked for.",)), clock.now()).platform_id
    last = x.publish(PublishRequest("y9", ("The newest asked for.",)), clock.now()).platform_id
    fake.posts[young[1]].public["like_count"] = 7
    asked = [old, *young, last]
    by_timeline = {m.platform_id: m for m in x.metrics(asked, clock.now())}
    assert set(by_timeline) == set(asked) and by_timeline[young[1]].likes == 7
    [timeline] = fake.calls("GET", f"/2/users/{fake.me.id}/tweets")
    assert timeline.params["since_id"] == [str(int(young[0]) - 1)] and timeline.params["until_id"] == [
        str(int(last) + 1)
    ]
    lookups = fake.calls("GET", "/2/tweets")
    assert [r.params["ids"] for r in lookups] == [[old]]  # only the old post is looked up
    with store.connect() as conn:
        billed = dict(
            conn.execute(
                select(platform_usage.c.category, func.sum(platform_usage.c.billed))
                .where(platform_usage.c.purpose == "metrics")
                .group_by(platform_usage.c.category)
            ).all()
        )
    # the timeline also returns the post in between: X bills it, and so does the record
    assert billed["owned_read"] == 5 and billed["post_read"] == 1 and between not in by_timeline
    assert round(_recorded(store), 6) == round(fake.spent, 6)
