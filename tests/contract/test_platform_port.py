"""The Platform port's contract, run over every real platform adapter on its stateful fake.

What every stage may rely on, whatever the platform: a receipt names every part it published; a publish
is found again, with the same ids, and one never sent is not; metrics come back once per known post and
leave what the platform does not show as None (never 0); followers are a count; mentions lie in the
window asked for, oldest first; an empty part or an empty search is refused before any request.
New adapters join by adding a case to `ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.platforms.bluesky import BlueskyCredentials, BlueskyPlatform
from growthloop.adapters.platforms.mastodon import MastodonCredentials, MastodonPlatform
from growthloop.domain import Capabilities, PostMetrics, PublishReceipt, PublishRequest
from growthloop.errors import ContentRejected
from growthloop.ports import Platform
from tests.conftest import START
from tests.contract import fake_bluesky, fake_mastodon, fake_x
from tests.contract.test_x_behaviour import TOKEN, connect


@dataclass
class Case:
    platform: Platform
    clock: VirtualClock
    requests: Callable[[], int]  # how many HTTP requests the fake has answered


def _bluesky(clock: VirtualClock) -> Case:
    fake = fake_bluesky.FakeBluesky(clock)
    credentials = BlueskyCredentials(fake_bluesky.HANDLE, fake_bluesky.PASSWORD)
    platform = BlueskyPlatform(credentials, clock, base_url=fake_bluesky.FAKE_URL, transport=fake)
    return Case(platform, clock, lambda: len(fake.requests))


def _mastodon(clock: VirtualClock) -> Case:
    token = "mastodon-port-token-1234"
    fake = fake_mastodon.FakeMastodon(clock, token)
    platform = MastodonPlatform(MastodonCredentials(token), clock, base_url=fake_mastodon.FAKE_URL)
    platform.session.mount(fake_mastodon.FAKE_URL, fake)
    platform.connect()
    return Case(platform, clock, lambda: len(fake.requests))


def _x(clock: VirtualClock) -> Case:
    fake = fake_x.FakeX(clock, bearer=TOKEN)
    return Case(connect(fake, clock), clock, lambda: len(fake.requests))


ADAPTERS: dict[str, Callable[[VirtualClock], Case]] = {"bluesky": _bluesky, "mastodon": _mastodon, "x": _x}


@pytest.fixture(params=sorted(ADAPTERS))
def case(request: pytest.FixtureRequest) -> Case:
    return ADAPTERS[request.param](VirtualClock(START + timedelta(hours=9)))


def test_it_implements_the_port_with_sane_capabilities(case: Case) -> None:
    assert isinstance(case.platform, Platform) and case.platform.name
    caps = case.platform.capabilities()
    assert isinstance(caps, Capabilities) and caps.max_weighted_length > 0


def test_a_receipt_names_every_part_and_is_found_again(case: Case) -> None:
    now = case.clock.now()
    single = case.platform.publish(PublishRequest("one", ("A single post.",)), now)
    thread = case.platform.publish(PublishRequest("three", ("Part one here.", "Part two here.", "Part three.")), now)
    assert isinstance(single, PublishReceipt) and single.part_ids == (single.platform_id,)
    assert len(set(thread.part_ids)) == 3 and thread.platform_id == thread.part_ids[0]
    assert single.published_at.tzinfo is not None
    found = case.platform.find_published(
        PublishRequest("three", ("Part one here.", "Part two here.", "Part three.")), now
    )
    assert found is not None and found.part_ids == thread.part_ids
    assert case.platform.find_published(PublishRequest("never", ("Never sent anywhere.",)), now) is None


def test_metrics_come_once_per_known_post_and_hidden_counters_are_none(case: Case) -> None:
    now = case.clock.now()
    receipt = case.platform.publish(PublishRequest("m", ("Measured post.",)), now)
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


def test_followers_mentions_and_search_keep_their_shapes(case: Case) -> None:
    now = case.clock.now()
    assert isinstance(case.platform.follower_count(now), int) and case.platform.follower_count(now) >= 0
    found = case.platform.mentions(now - timedelta(days=1), now)
    assert all(now - timedelta(days=1) < m.created_at <= now for m in found)
    assert [m.created_at for m in found] == sorted(m.created_at for m in found)
    assert case.platform.mentions(now, now) == []


def test_empty_input_is_refused_before_any_request(case: Case) -> None:
    now = case.clock.now()
    case.platform.follower_count(now)  # logged in, if the platform logs in
    before = case.requests()
    with pytest.raises(ContentRejected):
        case.platform.publish(PublishRequest("empty", ("  ",)), now)
    with pytest.raises(ValueError):
        case.platform.search_recent("  ", now)
    assert case.requests() == before
