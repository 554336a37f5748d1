"""The Bluesky adapter against a stateful fake at the SDK's HTTP edge (tests/contract/fake_bluesky.py).

What a mock server cannot show: sessions that expire and are refreshed, 429 with its reset, the local
write budget, 401 and 403, timeouts, a post that went out but whose answer was lost, a thread cut short,
malformed bodies; and what the answers mean (reply refs, facets, counters, notifications).
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.platforms.bluesky import (
    BlueskyCredentials,
    BlueskyPlatform,
    LoginRefused,
    ServerNotFound,
)
from growthloop.adapters.platforms.bluesky.edge import WriteBudget
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, metric_snapshots, post_attempts
from growthloop.domain import GRAPHEMES, MENTION, POSTED, QUOTE, SEARCH, Capabilities, PublishRequest
from growthloop.errors import (
    AuthFailed,
    ConfigError,
    ContentRejected,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
)
from growthloop.ports import Platform
from tests.conftest import START, Loop
from tests.contract.fake_bluesky import DID, FAKE_URL, HANDLE, PASSWORD, FakeBluesky


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START + timedelta(hours=9))


@pytest.fixture
def fake(clock: VirtualClock) -> FakeBluesky:
    return FakeBluesky(clock)


def _refs(reply: dict) -> dict:  # type: ignore[type-arg]
    """Reply refs without the `$type` tags the SDK's models add."""
    return {k: {"uri": v["uri"], "cid": v["cid"]} for k, v in reply.items() if k != "$type"}


def _platform(fake: FakeBluesky, clock: VirtualClock, password: str = PASSWORD, **kw: object) -> BlueskyPlatform:
    return BlueskyPlatform(
        BlueskyCredentials(HANDLE, password),
        clock,
        base_url=FAKE_URL,
        transport=fake,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def bsky(fake: FakeBluesky, clock: VirtualClock) -> BlueskyPlatform:
    return _platform(fake, clock)


def test_it_is_a_platform_that_shows_no_impressions_and_no_clicks(bsky: BlueskyPlatform) -> None:
    assert isinstance(bsky, Platform)
    assert bsky.capabilities() == Capabilities(
        impressions=False,
        profile_clicks=False,
        unsummoned_replies=False,
        search=True,
        max_weighted_length=300,
        length_rule=GRAPHEMES,
    )


def test_a_thread_is_records_with_root_and_parent_refs(bsky: BlueskyPlatform, fake: FakeBluesky) -> None:
    receipt = bsky.publish(PublishRequest("t1", ("First part.", "Second part.", "Third part.")), fake.clock.now())
    creates = [c.body for c in fake.calls("com.atproto.repo.createRecord")]
    assert len(creates) == 3 and len(receipt.part_ids) == 3
    assert all(c["repo"] == DID and c["collection"] == "app.bsky.feed.post" for c in creates)
    assert [c["record"]["text"] for c in creates] == ["First part.", "Second part.", "Third part."]
    assert all(c["record"]["$type"] == "app.bsky.feed.post" for c in creates)
    assert "reply" not in creates[0]["record"]
    posts = fake.own_posts()
    root = {"uri": posts[0].uri, "cid": posts[0].cid}
    assert _refs(creates[1]["record"]["reply"]) == {"root": root, "parent": root}
    assert _refs(creates[2]["record"]["reply"]) == {"root": root, "parent": {"uri": posts[1].uri, "cid": posts[1].cid}}
    assert receipt.platform_id == f"{DID}/{posts[0].uri.rsplit('/', 1)[1]}" and len(receipt.platform_id) <= 64
    assert receipt.published_at == fake.clock.now()


def test_a_reply_takes_its_root_from_the_thread_it_answers(bsky: BlueskyPlatform, fake: FakeBluesky) -> None:
    top = fake.add_post("friend.test", "What helps you sleep?")
    theirs = fake.add_post("friend.test", "Asking for @growthloop.test", reply_to=top)
    pid = theirs.uri.removeprefix("at://").replace("/app.bsky.feed.post/", "/")
    receipt = bsky.reply(pid, "A dark, cool room.", fake.clock.now())
    record = fake.calls("com.atproto.repo.createRecord")[-1].body["record"]
    assert _refs(record["reply"]) == {
        "root": {"uri": top.uri, "cid": top.cid},
        "parent": {"uri": theirs.uri, "cid": theirs.cid},
    }
    assert fake.posts[theirs.uri].replies == 1 and receipt.part_ids == (receipt.platform_id,)
    with pytest.raises(ContentRejected, match="not a Bluesky post id"):
        bsky.reply("1346889436626259968", "An X id.", fake.clock.now())


def test_links_and_mentions_are_facets_on_utf8_byte_offsets(bsky: BlueskyPlatform, fake: FakeBluesky) -> None:
    text = "Schlaf 😴 zählt: https://example.com/sleep dank @friend.test und @nobody.test"
    bsky.publish(PublishRequest("f", (text,)), fake.clock.now())
    facets = fake.calls("com.atproto.repo.createRecord")[-1].body["record"]["facets"]
    raw = text.encode("utf-8")
    spans = {f["features"][0]["$type"]: raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in facets}
    assert spans == {
        "app.bsky.richtext.facet#link": "https://example.com/sleep",
        "app.bsky.richtext.facet#mention": "@friend.test",
    }
    mention = next(f for f in facets if f["features"][0]["$type"].endswith("#mention"))
    assert mention["features"][0]["did"] == fake.handles["friend.test"]  # @nobody.test does not resolve: plain text


def test_metrics_followers_mentions_and_search(bsky: BlueskyPlatform, fake: FakeBluesky, clock: VirtualClock) -> None:
    ours = bsky.publish(PublishRequest("m", ("Sleep is a skill.",)), clock.now())
    post = fake.own_posts()[0]
    post.likes, post.reposts, post.quotes = 5, 2, 1
    gone = f"{DID}/3zzzzzzzzzzzz"
    metrics = bsky.metrics([ours.platform_id, gone, "not-an-id"], clock.now())
    assert len(metrics) == 1
    m = metrics[0]
    assert (m.likes, m.reposts, m.replies, m.quotes) == (5, 2, 0, 1)
    assert (m.impressions, m.profile_clicks, m.link_clicks) == (None, None, None)  # never shown, never 0

    fake.followers = 123
    assert bsky.follower_count(clock.now()) == 123

    since = clock.now()
    clock.advance(60)
    mention = fake.add_post("friend.test", "@growthloop.test what about naps?")
    reply = fake.add_post("friend.test", "Agreed!", reply_to=post)
    quote = fake.add_post("other.test", "Worth reading")
    for p, reason in ((mention, "mention"), (reply, "reply"), (quote, "quote")):
        fake.notify(p, reason)
    fake.notify(fake.add_post("friend.test", "liked"), "like")
    found = bsky.mentions(since, clock.now())
    assert [(m.text, m.kind) for m in found] == [
        ("@growthloop.test what about naps?", MENTION),
        ("Agreed!", MENTION),
        ("Worth reading", QUOTE),
    ]
    assert all(m.summoned and m.author_followers == 7 for m in found)
    assert bsky.mentions(clock.now(), clock.now()) == []

    results = bsky.search_recent("sleep", clock.now())  # our own post matches too, and is left out
    assert results == [] or all(m.kind == SEARCH for m in results)
    fake.add_post("other.test", "Sleep debt is real")
    results = bsky.search_recent("sleep", clock.now())
    assert [(m.text, m.kind, m.author) for m in results] == [("Sleep debt is real", SEARCH, "other.test")]
    search = fake.calls("app.bsky.feed.searchPosts")[-1].params
    assert search["sort"] == ["latest"] and search["q"] == ["sleep"]


def test_a_429_raises_rate_limited_until_the_reset(
    bsky: BlueskyPlatform, fake: FakeBluesky, clock: VirtualClock
) -> None:
    reset = clock.now() + timedelta(minutes=7)
    headers = {"ratelimit-remaining": "0", "ratelimit-reset": str(int(reset.timestamp()))}
    fake.fail("app.bsky.feed.getPosts", "status", 429, headers, {"error": "RateLimitExceeded", "message": "slow down"})
    with pytest.raises(RateLimited) as limited:
        bsky.metrics([f"{DID}/3kaaaaaaaaaaa"], clock.now())
    assert limited.value.until == reset
    before = len(fake.requests)
    with pytest.raises(RateLimited):  # the method's window is spent: no request is made until the reset
        bsky.metrics([f"{DID}/3kaaaaaaaaaaa"], clock.now())
    assert len(fake.requests) == before
    assert bsky.follower_count(clock.now()) == 42  # another method's window is not
    clock.sleep_until(reset)
    assert bsky.metrics([f"{DID}/3kaaaaaaaaaaa"], clock.now()) == []


def test_the_write_budget_stops_before_the_server_has_to(fake: FakeBluesky, clock: VirtualClock) -> None:
    bsky = _platform(fake, clock, budget=WriteBudget(per_hour=9, per_day=100))
    bsky.publish(PublishRequest("a", ("One.", "Two.", "Three.")), clock.now())  # 3 creates: 9 points
    clock.advance(600)
    with pytest.raises(RateLimited) as limited:
        bsky.publish(PublishRequest("b", ("Four.",)), clock.now())
    assert limited.value.until == START + timedelta(hours=10)  # when the first create leaves the hour
    assert len(fake.calls("com.atproto.repo.createRecord")) == 3
    clock.sleep_until(limited.value.until + timedelta(seconds=1))
    bsky.publish(PublishRequest("b", ("Four.",)), clock.now())
    assert len(fake.own_posts()) == 4


def test_the_servers_write_limit_answers_429(fake: FakeBluesky, clock: VirtualClock) -> None:
    fake.points_per_hour = 6
    bsky = _platform(fake, clock)
    bsky.publish(PublishRequest("a", ("One.", "Two.")), clock.now())
    with pytest.raises(RateLimited) as limited:
        bsky.publish(PublishRequest("b", ("Three.",)), clock.now())
    assert limited.value.until == clock.now().replace(microsecond=0) + timedelta(hours=1)


def test_an_expiring_session_is_refreshed_by_the_clock(
    bsky: BlueskyPlatform, fake: FakeBluesky, clock: VirtualClock
) -> None:
    assert bsky.follower_count(clock.now()) == 42
    clock.advance(2 * 3600 - 10 * 60)  # within 15 minutes of the access token's expiry, by our clock
    assert bsky.follower_count(clock.now()) == 42
    assert len(fake.calls("com.atproto.server.refreshSession")) == 1
    assert len(fake.calls("com.atproto.server.createSession")) == 1


def test_expired_token_refreshes_and_retries_once(
    bsky: BlueskyPlatform, fake: FakeBluesky, clock: VirtualClock
) -> None:
    bsky.follower_count(clock.now())
    fake.expire_sessions()  # the server says expired although the token's exp is hours away
    assert bsky.follower_count(clock.now()) == 42
    assert [r.status for r in fake.calls("app.bsky.actor.getProfile")] == [200, 400, 200]
    assert len(fake.calls("com.atproto.server.refreshSession")) == 1


def test_a_refused_refresh_logs_in_again(bsky: BlueskyPlatform, fake: FakeBluesky, clock: VirtualClock) -> None:
    bsky.follower_count(clock.now())
    fake.expire_sessions()
    fake.refresh.clear()  # the refresh token is gone too
    assert bsky.follower_count(clock.now()) == 42
    assert len(fake.calls("com.atproto.server.createSession")) == 2


def test_401_and_403_are_auth_failures_that_name_the_variables(bsky: BlueskyPlatform, fake: FakeBluesky) -> None:
    for status, error in ((401, "AuthenticationRequired"), (403, "Forbidden")):
        fake.fail("app.bsky.actor.getProfile", "status", status, body={"error": error, "message": f"no {PASSWORD}"})
        with pytest.raises(AuthFailed) as refused:
            bsky.follower_count(fake.clock.now())
        assert "GROWTHLOOP_BLUESKY_APP_PASSWORD" in str(refused.value) and PASSWORD not in str(refused.value)


def test_a_wrong_app_password_is_a_config_error_naming_the_variables(fake: FakeBluesky, clock: VirtualClock) -> None:
    bsky = _platform(fake, clock, password="wrong-pass-word")
    with pytest.raises(LoginRefused) as refused:
        bsky.connect()
    message = str(refused.value)
    assert isinstance(refused.value, ConfigError) and isinstance(refused.value, AuthFailed)
    assert "GROWTHLOOP_BLUESKY_APP_PASSWORD" in message and "wrong-pass-word" not in message
    assert "\n" not in message


def test_a_rate_limited_login_stays_rate_limited(fake: FakeBluesky, clock: VirtualClock) -> None:
    reset = clock.now() + timedelta(minutes=4)
    fake.fail(
        "com.atproto.server.createSession",
        "status",
        429,
        {"ratelimit-remaining": "0", "ratelimit-reset": str(int(reset.timestamp()))},
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
    )
    with pytest.raises(RateLimited) as limited:
        _platform(fake, clock).connect()
    assert limited.value.until == reset and not isinstance(limited.value, ConfigError)


def test_a_wrong_base_url_is_a_config_error_naming_the_setting(clock: VirtualClock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    bsky = BlueskyPlatform(
        BlueskyCredentials(HANDLE, PASSWORD),
        clock,
        base_url="http://nothing.test",
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(ServerNotFound, match=r"^settings: bluesky.base_url: http://nothing.test: no AT Protocol"):
        bsky.connect()

    def not_xrpc(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>Not Found</html>", headers={"content-type": "text/html"})

    bsky = BlueskyPlatform(
        BlueskyCredentials(HANDLE, PASSWORD), clock, base_url="http://web.test", transport=httpx.MockTransport(not_xrpc)
    )
    with pytest.raises(ServerNotFound, match="bluesky.base_url"):
        bsky.connect()


def test_timeouts_are_unavailable_and_a_lost_answer_is_reconciled(bsky: BlueskyPlatform, fake: FakeBluesky) -> None:
    now = fake.clock.now()
    fake.fail("app.bsky.actor.getProfile", "timeout_before")
    with pytest.raises(PlatformUnavailable, match="timed out"):
        bsky.follower_count(now)
    request = PublishRequest("lost", ("This one went out.",))
    fake.fail("com.atproto.repo.createRecord", "timeout_after")
    with pytest.raises(PlatformUnavailable, match="outcome is unknown"):
        bsky.publish(request, now)
    assert len(fake.own_posts()) == 1  # it went out
    receipt = bsky.find_published(request, now)
    assert receipt is not None and len(fake.own_posts()) == 1
    assert receipt.platform_id == fake.own_posts()[0].uri.removeprefix("at://").replace("/app.bsky.feed.post/", "/")
    assert bsky.find_published(PublishRequest("never", ("Never sent.",)), now) is None


def test_a_thread_cut_short_is_completed_without_repeating_a_part(bsky: BlueskyPlatform, fake: FakeBluesky) -> None:
    now = fake.clock.now()
    bsky.publish(PublishRequest("older", ("Part two.",)), now)  # the same text, but not a reply: not a part
    request = PublishRequest("cut", ("Part one.", "Part two.", "Part three."))
    for kind in ("pass", "pass", "timeout_before"):  # parts one and two go out, part three is lost
        fake.fail("com.atproto.repo.createRecord", kind)
    with pytest.raises(PlatformUnavailable, match="partly published: parts 1-2 of 3"):
        bsky.publish(request, now)
    receipt = bsky.find_published(request, now)
    assert receipt is not None and len(receipt.part_ids) == 3
    texts = [p.record["text"] for p in fake.own_posts()]
    assert sorted(texts) == ["Part one.", "Part three.", "Part two.", "Part two."]
    one = next(p for p in fake.own_posts() if p.record["text"] == "Part one.")
    two = next(p for p in fake.own_posts() if p.record.get("reply", {}).get("parent", {}).get("uri") == one.uri)
    third = fake.calls("com.atproto.repo.createRecord")[-1].body["record"]
    assert third["text"] == "Part three."
    assert _refs(third["reply"]) == {
        "root": {"uri": one.uri, "cid": one.cid},
        "parent": {"uri": two.uri, "cid": two.cid},
    }
    again = bsky.find_published(request, now)  # now complete: nothing more is posted
    assert again == receipt and len(fake.own_posts()) == 4


def test_malformed_bodies_are_unavailable_never_guessed(bsky: BlueskyPlatform, fake: FakeBluesky) -> None:
    now = fake.clock.now()
    fake.fail("app.bsky.feed.getPosts", "malformed")
    with pytest.raises(PlatformUnavailable, match="not JSON"):
        bsky.metrics([f"{DID}/3kaaaaaaaaaaa"], now)
    fake.fail("com.atproto.repo.createRecord", "status", 200, body={"validationStatus": "valid"})
    with pytest.raises(PlatformUnavailable, match="outcome is unknown"):
        bsky.publish(PublishRequest("x", ("Hello.",)), now)
    fake.fail("app.bsky.actor.getProfile", "status", 200, body={"did": DID, "followersCount": -3})
    with pytest.raises(PlatformError, match="no follower count observed"):
        bsky.follower_count(now)
    fake.fail("app.bsky.feed.getPosts", "status", 200, body=[1, 2])
    with pytest.raises(PlatformUnavailable, match="not a JSON object"):
        bsky.metrics([f"{DID}/3kaaaaaaaaaaa"], now)


def test_content_the_server_refuses_is_rejected(bsky: BlueskyPlatform, fake: FakeBluesky) -> None:
    with pytest.raises(ContentRejected, match="300 graphemes"):
        bsky.publish(PublishRequest("long", ("word " * 70,)), fake.clock.now())
    with pytest.raises(ContentRejected, match="empty"):
        bsky.publish(PublishRequest("empty", ("  ",)), fake.clock.now())
    assert fake.own_posts() == []


def test_the_post_stage_reconciles_a_lost_answer_before_any_retry(
    store, settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The whole loop: plan, post (the answer is lost), post again (found among our records, not re-sent)."""
    loop = Loop(store, settings.model_copy(update={"platform": "bluesky", "live": True}))
    fake = FakeBluesky(loop.clock)
    loop.wiring.platform = _platform(fake, loop.clock)  # type: ignore[arg-type]
    loop.run("plan")
    fake.fail("com.atproto.repo.createRecord", "timeout_after")
    loop.run("post")
    with store.connect() as conn:
        first = conn.execute(content_metadata.select().order_by(content_metadata.c.id)).first()
    assert first.status == "posting"
    loop.clock.advance(31 * 60)
    loop.run("post")
    with store.connect() as conn:
        rows = conn.execute(content_metadata.select().where(content_metadata.c.decision_id == first.decision_id)).all()
        outcomes = conn.execute(post_attempts.select().where(post_attempts.c.decision_id == first.decision_id)).all()
    assert rows[0].status == POSTED and rows[0].tweet_id.startswith(DID + "/")
    assert [o.outcome for o in outcomes] == ["reconciled"]  # the unknown attempt, settled by what was found
    first_text = (first.thread_parts or [first.content])[0]
    assert [p.record["text"] for p in fake.own_posts()].count(first_text) == 1  # found, not sent again
    assert rows[0].tweet_id == fake.own_posts()[0].uri.removeprefix("at://").replace("/app.bsky.feed.post/", "/")
    loop.clock.advance(16 * 60)
    loop.run("metrics")
    loop.run("followers")
    with store.connect() as conn:
        snapshots = conn.execute(metric_snapshots.select()).all()
        followers = conn.execute(follower_snapshots.select()).all()
    assert snapshots and snapshots[0].impressions is None and snapshots[0].profile_clicks is None
    assert [f.followers for f in followers] == [42]
