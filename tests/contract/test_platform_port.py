"""The Platform port's contract, run over every platform adapter: the simulator, X, Mastodon and Bluesky on their
stateful fakes, and the dry-run wrapper that keeps a real platform quiet until `live = true`.

What every stage may rely on, whatever the platform: a receipt names every part it published; a publish
is found again, with the same ids, and one never sent is not; metrics come back once per known post and
leave what the platform does not show as None (never 0); followers are the platform's count; mentions lie in
the window asked for, oldest first; an empty part or an empty search is refused before any request. The
dry-run wrapper publishes nothing (DryRun, no request, nothing found again) and reads through to the platform
it wraps. New adapters join by adding a case to `ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.platforms.bluesky import BlueskyCredentials, BlueskyPlatform
from growthloop.adapters.platforms.dry_run import DryRunPlatform
from growthloop.adapters.platforms.mastodon import MastodonCredentials, MastodonPlatform
from growthloop.adapters.platforms.sim.platform import SimPlatform
from growthloop.adapters.platforms.sim.world import default_world_path, parse_world
from growthloop.adapters.store.store import SqlStore
from growthloop.bootstrap import ensure_account
from growthloop.config import Settings
from growthloop.domain import Capabilities, PostMetrics, PublishReceipt, PublishRequest
from growthloop.errors import ContentRejected, DryRun
from growthloop.ports import Platform
from tests.conftest import START
from tests.contract import fake_bluesky, fake_mastodon, fake_x
from tests.contract.test_x_behaviour import TOKEN, connect


@dataclass
class Case:
    platform: Platform
    clock: VirtualClock
    requests: Callable[[], int]  # how many requests the platform behind it has answered
    followers: Callable[[], int]  # the platform's own follower count, read behind the adapter's back
    publish: Callable[[PublishRequest], PublishReceipt]  # puts a post on the platform (past a dry run)
    sends: bool = True  # False for the dry run: nothing is ever published


def _bluesky(clock: VirtualClock, store: SqlStore, settings: Settings) -> Case:
    fake = fake_bluesky.FakeBluesky(clock)
    credentials = BlueskyCredentials(fake_bluesky.HANDLE, fake_bluesky.PASSWORD)
    platform = BlueskyPlatform(credentials, clock, base_url=fake_bluesky.FAKE_URL, transport=fake)
    return Case(
        platform, clock, lambda: len(fake.requests), lambda: fake.followers, lambda r: platform.publish(r, clock.now())
    )


def _mastodon(clock: VirtualClock, store: SqlStore, settings: Settings) -> Case:
    token = "mastodon-port-token-1234"
    fake = fake_mastodon.FakeMastodon(clock, token)
    platform = MastodonPlatform(MastodonCredentials(token), clock, base_url=fake_mastodon.FAKE_URL)
    platform.session.mount(fake_mastodon.FAKE_URL, fake)
    platform.connect()
    return Case(
        platform, clock, lambda: len(fake.requests), lambda: fake.followers, lambda r: platform.publish(r, clock.now())
    )


def _x(clock: VirtualClock, store: SqlStore, settings: Settings) -> Case:
    fake = fake_x.FakeX(clock, bearer=TOKEN)
    platform = connect(fake, clock)
    return Case(
        platform,
        clock,
        lambda: len(fake.requests),
        lambda: fake.me.followers,
        lambda r: platform.publish(r, clock.now()),
    )


def _sim(clock: VirtualClock, store: SqlStore, settings: Settings) -> Case:
    ensure_account(store, settings, START)
    world = parse_world(default_world_path().read_text(), "contract-world")
    platform = SimPlatform(store, settings.account, world, START)
    # The simulator's "requests" are its calls that reach the simulated platform (each draws its faults);
    # its follower count is the world's start plus every follower event up to now.
    return Case(
        platform,
        clock,
        lambda: platform._calls,
        lambda: _sim_followers(store, settings.account, world.initial_followers, clock),
        lambda r: platform.publish(r, clock.now()),
    )


def _sim_followers(store: SqlStore, account: str, initial: int, clock: VirtualClock) -> int:
    from sqlalchemy import func, select

    from growthloop.adapters.store.tables import sim_follower_events as events

    with store.connect() as conn:
        delta = conn.execute(
            select(func.coalesce(func.sum(events.c.delta), 0)).where(
                events.c.account == account, events.c.at <= clock.now()
            )
        ).scalar_one()
    return max(0, initial + int(delta))


def _dry_run_x(clock: VirtualClock, store: SqlStore, settings: Settings) -> Case:
    inner = _x(clock, store, settings)
    return Case(DryRunPlatform(inner.platform), clock, inner.requests, inner.followers, inner.publish, sends=False)


ADAPTERS: dict[str, Callable[[VirtualClock, SqlStore, Settings], Case]] = {
    "bluesky": _bluesky,
    "dry-run-x": _dry_run_x,
    "mastodon": _mastodon,
    "sim": _sim,
    "x": _x,
}


@pytest.fixture(params=sorted(ADAPTERS))
def case(request: pytest.FixtureRequest, store: SqlStore, settings: Settings) -> Case:
    return ADAPTERS[request.param](VirtualClock(START + timedelta(hours=9)), store, settings)


def test_it_implements_the_port_with_sane_capabilities(case: Case) -> None:
    assert isinstance(case.platform, Platform) and case.platform.name
    caps = case.platform.capabilities()
    assert isinstance(caps, Capabilities) and caps.max_weighted_length > 0


def test_a_receipt_names_every_part_and_is_found_again(case: Case) -> None:
    now = case.clock.now()
    thread_request = PublishRequest("three", ("Part one here.", "Part two here.", "Part three."))
    if not case.sends:
        before = case.requests()
        with pytest.raises(DryRun):
            case.platform.publish(PublishRequest("one", ("A single post.",)), now)
        assert case.requests() == before, "a dry run sent a request"
        case.publish(thread_request)  # even what is on the platform is not claimed as ours
        assert case.platform.find_published(thread_request, now) is None
        return
    single = case.platform.publish(PublishRequest("one", ("A single post.",)), now)
    thread = case.platform.publish(thread_request, now)
    assert isinstance(single, PublishReceipt) and single.part_ids == (single.platform_id,)
    assert len(set(thread.part_ids)) == 3 and thread.platform_id == thread.part_ids[0]
    assert single.published_at.tzinfo is not None
    found = case.platform.find_published(
        PublishRequest("three", ("Part one here.", "Part two here.", "Part three.")), now
    )
    assert found is not None and found.part_ids == thread.part_ids
    assert case.platform.find_published(PublishRequest("never", ("Never sent anywhere.",)), now) is None


def test_metrics_come_once_per_known_post_and_hidden_counters_are_none(case: Case) -> None:
    receipt = case.publish(PublishRequest("m", ("Measured post.",)))
    case.clock.advance(3600)  # an hour later: the post has been seen
    now = case.clock.now()
    metrics = case.platform.metrics([receipt.platform_id, receipt.platform_id], now)
    assert [m.platform_id for m in metrics] == [receipt.platform_id]
    m = metrics[0]
    assert isinstance(m, PostMetrics) and all(
        v is None or (isinstance(v, int) and v >= 0) for v in (m.likes, m.reposts, m.replies, m.quotes)
    )
    caps = case.platform.capabilities()
    if not caps.impressions:
        assert m.impressions is None
    if not caps.profile_clicks:
        assert m.profile_clicks is None


def test_followers_are_the_platforms_count(case: Case) -> None:
    now = case.clock.now()
    counted = case.platform.follower_count(now)
    assert isinstance(counted, int) and counted == case.followers()


def test_mentions_lie_in_the_window_oldest_first(case: Case) -> None:
    for n in range(3):
        case.publish(PublishRequest(f"talk-{n}", (f"Post number {n} that people may answer.",)))
        case.clock.advance(2 * 3600)
    now = case.clock.now()
    since = now - timedelta(hours=5)
    found = case.platform.mentions(since, now)
    assert all(since < m.created_at <= now for m in found)
    assert [m.created_at for m in found] == sorted(m.created_at for m in found)
    assert case.platform.mentions(now, now) == []


def test_empty_input_is_refused_before_any_request(case: Case) -> None:
    now = case.clock.now()
    case.platform.follower_count(now)  # logged in, if the platform logs in
    before = case.requests()
    with pytest.raises(ContentRejected if case.sends else DryRun):
        case.platform.publish(PublishRequest("empty", ("  ",)), now)
    with pytest.raises(ValueError):
        case.platform.search_recent("  ", now)
    assert case.requests() == before
