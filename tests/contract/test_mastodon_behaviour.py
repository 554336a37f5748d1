"""The Mastodon adapter against a stateful fake at Mastodon.py's HTTP edge (tests/contract/fake_mastodon.py):
rate limits, refusals, timeouts, a post whose answer was lost, a thread cut short, malformed bodies, and the
Platform port's round trip."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.platforms.mastodon import ACCESS_TOKEN, MastodonCredentials, MastodonPlatform
from growthloop.domain import MASTODON, MENTION, QUOTE, SEARCH, PublishRequest
from growthloop.errors import AuthFailed, ConfigError, ContentRejected, PlatformError, PlatformUnavailable, RateLimited
from tests.contract.fake_mastodon import FAKE_URL, ME, FakeMastodon, Fault

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
TOKEN = "mastodon-secret-token-1234"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def fake(clock: VirtualClock) -> FakeMastodon:
    return FakeMastodon(clock, TOKEN)


def _platform(clock: VirtualClock, fake: FakeMastodon, token: str = TOKEN, **kwargs: object) -> MastodonPlatform:
    platform = MastodonPlatform(MastodonCredentials(token), clock, base_url=FAKE_URL, **kwargs)  # type: ignore[arg-type]
    platform.session.mount(FAKE_URL, fake)
    return platform


@pytest.fixture
def platform(clock: VirtualClock, fake: FakeMastodon) -> Iterator[MastodonPlatform]:
    p = _platform(clock, fake)
    p.connect()
    yield p


# -- the port's round trip ---------------------------------------------------------------------------------


def test_a_thread_goes_out_as_replies_each_with_its_own_idempotency_key(
    platform: MastodonPlatform, fake: FakeMastodon
) -> None:
    receipt = platform.publish(PublishRequest(key="d-1", parts=("One.", "Two.", "Three.")), T0)
    own = sorted(fake.own(), key=lambda s: int(s.id))
    assert receipt.part_ids == tuple(s.id for s in own)
    assert [s.in_reply_to_id for s in own] == [None, own[0].id, own[1].id]
    keys = [r.headers.get("Idempotency-Key") for r in fake.calls("POST", "/api/v1/statuses")]
    assert keys == ["d-1/1", "d-1/2", "d-1/3"]
    fake.statuses[own[0].id].favourites = 5
    fake.statuses[own[0].id].quotes = 2
    (m,) = platform.metrics([own[0].id, "999"], T0)  # an unknown id is left out
    assert (m.likes, m.reposts, m.replies, m.quotes) == (5, 0, 1, 2)
    assert m.impressions is None and m.profile_clicks is None and m.bookmarks is None
    assert platform.follower_count(T0) == 120


def test_the_length_rule_is_the_instances(clock: VirtualClock) -> None:
    fake = FakeMastodon(clock, TOKEN, max_characters=1000, url_weight=30)
    platform = _platform(clock, fake)
    platform.connect()
    caps = platform.capabilities()
    assert (caps.length_rule, caps.max_weighted_length, caps.url_weight) == (MASTODON, 1000, 30)
    assert len(fake.calls("GET", "/api/v2/instance")) == 1  # read once


def test_mentions_and_quotes_come_from_notifications_and_search_from_the_instance(
    platform: MastodonPlatform, fake: FakeMastodon
) -> None:
    old = fake.mention("@growthloop old news", "ann@example.org", T0 - timedelta(days=3))
    m1 = fake.mention("@growthloop how much sleep?", "bob@example.org", T0 - timedelta(hours=2))
    q1 = fake.mention("look at this", "cy", T0 - timedelta(hours=1), kind="quote")
    found = platform.mentions(T0 - timedelta(days=1), T0)
    assert [(m.platform_id, m.kind, m.author) for m in found] == [
        (m1.id, MENTION, "bob@example.org"),
        (q1.id, QUOTE, "cy"),
    ]
    assert old.id not in {m.platform_id for m in found}
    assert found[0].text == "@growthloop how much sleep?" and found[0].author_followers == 7
    fake.add_status("deep sleep matters", "dee", T0)
    assert [m.kind for m in platform.search_recent("sleep", T0)] == [SEARCH] * 2


def test_a_search_the_instance_refuses_switches_search_off(platform: MastodonPlatform, fake: FakeMastodon) -> None:
    fake.fail_next("GET /api/v2/search", Fault("status", 403, body={"error": "Search is not enabled"}))
    assert platform.search_recent("sleep", T0) == []
    assert platform.capabilities().search is False


# -- what a mock server cannot show --------------------------------------------------------------------------


def test_a_post_whose_answer_was_lost_is_retried_to_the_same_status(
    platform: MastodonPlatform, fake: FakeMastodon
) -> None:
    fake.fail_next("POST /api/v1/statuses", Fault("timeout_after"))
    request = PublishRequest(key="d-7", parts=("Sleep is a skill.",))
    with pytest.raises(PlatformUnavailable, match="timed out.*the outcome is unknown"):
        platform.publish(request, T0)
    assert len(fake.own()) == 1  # it went out
    receipt = platform.publish(request, T0)  # the post stage's retry: the same Idempotency-Key
    assert len(fake.own()) == 1 and receipt.platform_id == fake.own()[0].id


def test_a_thread_cut_short_is_found_and_completed_without_posting_a_part_twice(
    platform: MastodonPlatform, fake: FakeMastodon
) -> None:
    request = PublishRequest(key="d-8", parts=("A long story, part one.", "Part two & the end: https://ex.am/ple"))
    fake.fail_next("POST /api/v1/statuses", Fault("none"), Fault("status", 503, body={"error": "busy"}))
    with pytest.raises(PlatformUnavailable, match="partly published: parts 1-1 of 2"):
        platform.publish(request, T0)
    assert len(fake.own()) == 1
    receipt = platform.find_published(request, T0)
    assert receipt is not None and len(receipt.part_ids) == 2 and len(fake.own()) == 2
    assert receipt.part_ids[0] == min(s.id for s in fake.own())
    assert platform.find_published(request, T0) == receipt  # found again, nothing more posted
    assert len(fake.own()) == 2
    assert platform.find_published(PublishRequest(key="d-9", parts=("Never posted.",)), T0) is None


def test_a_429_within_max_wait_is_waited_out_on_the_clock(
    platform: MastodonPlatform, fake: FakeMastodon, clock: VirtualClock
) -> None:
    reset = T0 + timedelta(seconds=40)
    fake.fail_next(
        "GET /api/v1/accounts/verify_credentials",
        Fault("status", 429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.isoformat()}, {"error": "x"}),
    )
    assert platform.follower_count(T0) == 120
    assert clock.now() == reset  # waited on the injected clock, not the wall clock


def test_a_429_beyond_max_wait_raises_rate_limited_until_the_reset(
    platform: MastodonPlatform, fake: FakeMastodon, clock: VirtualClock
) -> None:
    reset = T0 + timedelta(minutes=30)
    fake.fail_next(
        "POST /api/v1/statuses",
        Fault("status", 429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.isoformat()}, {"error": "x"}),
    )
    with pytest.raises(RateLimited) as raised:
        platform.publish(PublishRequest(key="d-3", parts=("Hi.",)), T0)
    assert raised.value.until == reset and clock.now() == T0 and fake.own() == []


def test_a_spent_window_is_honoured_before_the_next_call(
    platform: MastodonPlatform, fake: FakeMastodon, clock: VirtualClock
) -> None:
    fake.limit("POST /api/v1/statuses", 1)
    platform.publish(PublishRequest(key="d-4", parts=("First.",)), T0)  # its answer says: 0 remaining
    with pytest.raises(RateLimited) as raised:
        platform.publish(PublishRequest(key="d-5", parts=("Second.",)), T0)
    assert raised.value.until == T0 + timedelta(minutes=5)
    assert len(fake.calls("POST", "/api/v1/statuses")) == 1  # not even asked
    assert platform.rate_limit_state()["POST /api/v1/statuses"][0] == 0


def test_401_and_403_name_the_variable_never_the_token(clock: VirtualClock, fake: FakeMastodon) -> None:
    wrong = _platform(clock, fake, token="wrong-token-5678")
    with pytest.raises(ConfigError) as raised:
        wrong.connect()
    assert str(raised.value).startswith(f"environment: {ACCESS_TOKEN}: refused by {FAKE_URL}")
    assert "wrong-token-5678" not in str(raised.value)
    with pytest.raises(AuthFailed, match=ACCESS_TOKEN):
        wrong.follower_count(T0)
    fake.write_scope = False
    reader = _platform(clock, fake)
    with pytest.raises(AuthFailed, match="lacks a scope") as forbidden:
        reader.publish(PublishRequest(key="d-6", parts=("Hi.",)), T0)
    assert TOKEN not in str(forbidden.value)


def test_a_wrong_instance_url_names_the_setting(clock: VirtualClock, fake: FakeMastodon) -> None:
    fake.fail_next("GET /api/v2/instance", Fault("status", 404, body=b"<html>Not Found</html>"))
    with pytest.raises(ConfigError, match=r"^settings: mastodon.base_url: .* does not answer as a Mastodon instance"):
        _platform(clock, fake).connect()
    with pytest.raises(ConfigError, match="mastodon.base_url"):
        MastodonPlatform(MastodonCredentials(TOKEN), clock, base_url="mastodon.social")


def test_timeouts_and_server_errors_are_unavailable(platform: MastodonPlatform, fake: FakeMastodon) -> None:
    fake.fail_next("GET /api/v1/statuses", Fault("timeout_before"))
    with pytest.raises(PlatformUnavailable, match="timed out"):
        platform.metrics(["1"], T0)
    fake.fail_next("POST /api/v1/statuses", Fault("timeout_before"))
    with pytest.raises(PlatformUnavailable, match="the outcome is unknown"):
        platform.publish(PublishRequest(key="d-10", parts=("Hi.",)), T0)
    fake.fail_next("GET /api/v1/notifications", Fault("status", 502, body={"error": "bad gateway"}))
    with pytest.raises(PlatformUnavailable, match="502"):
        platform.mentions(T0 - timedelta(days=1), T0)


def test_malformed_bodies_are_unavailable_and_missing_counts_stay_missing(
    platform: MastodonPlatform, fake: FakeMastodon
) -> None:
    fake.fail_next("GET /api/v1/accounts/verify_credentials", Fault("malformed"))
    with pytest.raises(PlatformUnavailable, match="not the JSON expected"):
        platform.follower_count(T0)
    fake.fail_next("GET /api/v1/accounts/verify_credentials", Fault("malformed", body={"id": ME, "acct": "g"}))
    with pytest.raises(PlatformError, match="no valid followers_count"):
        platform.follower_count(T0)
    fake.fail_next("GET /api/v1/statuses", Fault("malformed", body=[{"id": "5", "favourites_count": -1}, "junk"]))
    (m,) = platform.metrics(["5"], T0)
    assert m.likes is None and m.reposts is None  # never a plausible number in place of a missing one


def test_content_the_instance_refuses_is_rejected(platform: MastodonPlatform) -> None:
    with pytest.raises(ContentRejected, match="422.*character limit"):
        platform.publish(PublishRequest(key="d-11", parts=("x" * 501,)), T0)
    with pytest.raises(ContentRejected, match="404"):
        platform.publish(PublishRequest(key="d-12", parts=("Hi.",), in_reply_to="12345"), T0)


def test_an_instance_older_than_4_3_is_asked_for_each_status(platform: MastodonPlatform, fake: FakeMastodon) -> None:
    fake.batch = False
    first = platform.publish(PublishRequest(key="d-20", parts=("One.",)), T0).platform_id
    second = platform.publish(PublishRequest(key="d-21", parts=("Two.",)), T0).platform_id
    fake.statuses[second].reblogs = 4
    found = platform.metrics([first, second, "404404"], T0)
    assert [(m.platform_id, m.reposts) for m in found] == [(first, 0), (second, 4)]
    assert len(fake.calls("GET", "/api/v1/statuses")) == 1  # asked once, then one call per status
    platform.metrics([first], T0)
    assert len(fake.calls("GET", "/api/v1/statuses")) == 1 and fake.calls("GET", f"/api/v1/statuses/{first}")
