"""The X adapter against Stoplight Prism serving the official X API v2 spec (shared/x-api/openapi.json).

A test fails when Prism reports any request that breaks the spec: a query parameter outside its enum, a
body property the spec does not allow, a path id that is not an id, a missing or wrong credential
scheme. Prism answers with bodies generated from the spec (`--dynamic`), so these tests also show that
the adapter copes with whatever the spec allows: ids that are not numbers, negative counters, missing
fields. What the answers mean is tested against the stateful fake (test_x_behaviour.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from growthloop.adapters.platforms.x import XCredentials, XPlatform
from growthloop.adapters.store.tables import content_metadata, follower_snapshots
from growthloop.domain import POSTED, Capabilities, Mention, PostMetrics, PublishRequest
from growthloop.errors import AuthFailed, PlatformError
from growthloop.ports import Platform
from tests.conftest import Loop
from tests.contract.conftest import PrismServer, Seen
from tests.contract.fake_x import snowflake

USER_ID = "2244994945"  # the spec's example UserId: Prism's generated users/me ids are not numeric
OTHER_POST = "1346889436626259968"  # the spec's example PostId (created in January 2021)
ENDPOINTS = {
    "POST /2/tweets",
    "GET /2/tweets",
    "GET /2/users/me",
    "GET /2/users/:id/tweets",
    "GET /2/users/:id/mentions",
    "GET /2/tweets/search/recent",
}
SECRETS = ("consumer-key-AAAA", "consumer-secret-BBBB", "access-token-CCCC", "token-secret-DDDD")


def _endpoint(seen: Seen) -> str:
    path = urlsplit(seen.url).path
    return f"{seen.method} {re.sub(r'^/2/users/(?!me$)[^/]+', '/2/users/:id', path)}"


def _query(seen: Seen) -> dict[str, list[str]]:
    return parse_qs(urlsplit(seen.url).query)


def _followers_count(me: Seen) -> int:
    """public_metrics.followers_count of a users/me answer, as Prism generated it."""
    count = me.answer["data"]["public_metrics"]["followers_count"]
    assert isinstance(count, int), me.answer
    return count


def _assert_no_violations(prism: PrismServer, seen: list[Seen], log_mark: int) -> None:
    reported = [(s.method, s.url, s.request_violations()) for s in seen if s.request_violations()]
    assert reported == [], f"Prism reported requests that break the spec: {reported}"
    logged = prism.logged_request_violations(log_mark)
    assert logged == [], f"Prism logged request violations: {logged}"


def _young_ids(loop: Loop, n: int) -> list[str]:
    """Ids of posts created an hour ago: young enough for non-public metrics."""
    at = loop.clock.now() - timedelta(hours=1)
    return [snowflake(at, i) for i in range(n)]


def test_every_stage_sends_only_requests_the_spec_allows(prism: PrismServer, loop: Loop) -> None:
    """post, thread, reply, metrics, followers, mentions, search and reconciliation, with an OAuth 2.0 user token."""
    mark = prism.log_size()
    platform = XPlatform(
        XCredentials.oauth2_user_token("oauth2-user-token-EEEE"),
        loop.clock,
        base_url=prism.url,
        user_id=USER_ID,
        account=loop.settings.account,
    )
    assert isinstance(platform, Platform)
    seen = prism.attach(platform.session)
    loop.wiring.platform = platform

    # The stages themselves: plan -> post (twice, 2 per hour) -> metrics -> followers -> replies.
    loop.run("plan")
    loop.run("post")
    loop.clock.advance(31 * 60)
    loop.run("post")
    loop.run("metrics")
    loop.run("followers")
    loop.run("replies")
    with loop.store.connect() as conn:
        posted = conn.execute(content_metadata.select().where(content_metadata.c.status == POSTED)).all()
        followers = conn.execute(follower_snapshots.select()).all()
    assert len(posted) == 2 and all(re.fullmatch(r"[0-9]{1,19}", r.tweet_id) for r in posted)
    # The snapshot holds the count Prism generated for users/me, read from the field the spec names.
    [me] = [s for s in seen if _endpoint(s) == "GET /2/users/me"]
    assert len(followers) == 1 and followers[0].followers == _followers_count(me)

    # Every other call the adapter makes, directly.
    now = loop.clock.now()
    thread = platform.publish(PublishRequest("thread-1", ("First part.", "Second part.", "Third part.")), now)
    assert len(thread.part_ids) == 3
    posts = [s for s in seen if s.method == "POST"]
    chain = [s.body.get("reply", {}).get("in_reply_to_tweet_id") for s in posts[-3:]]
    assert chain == [None, thread.part_ids[0], thread.part_ids[1]]  # each part answers the one before

    reply = platform.publish(PublishRequest("reply-1", ("Thanks for asking!",), in_reply_to=OTHER_POST), now)
    assert seen[-1].body == {"text": "Thanks for asking!", "reply": {"in_reply_to_tweet_id": OTHER_POST}}
    assert reply.part_ids == (reply.platform_id,)

    young, old = _young_ids(loop, 150), [OTHER_POST]
    metrics = platform.metrics(young + old, now)
    assert all(isinstance(m, PostMetrics) and m.platform_id in young + old for m in metrics)
    lookups = [_query(s) for s in seen if _endpoint(s) == "GET /2/tweets"][-3:]
    assert [len(q["ids"][0].split(",")) for q in lookups] == [100, 50, 1]  # batches of at most 100
    assert [q["post.fields"][0] for q in lookups] == [
        "public_metrics,non_public_metrics,organic_metrics",
        "public_metrics,non_public_metrics,organic_metrics",
        "public_metrics",  # older than 30 days: public metrics only
    ]

    counted = platform.follower_count(now)
    assert counted == _followers_count(seen[-1]) and _endpoint(seen[-1]) == "GET /2/users/me"
    with pytest.raises(PlatformError, match="no user with a valid id"):
        platform.check_credentials(now)  # Prism's generated user id is not an X id: refused, not used
    mentions = platform.mentions(now - timedelta(days=1), now)
    found = platform.search_recent("sleep science", now)
    assert all(isinstance(m, Mention) for m in mentions + found)
    assert platform.find_published(PublishRequest("k", ("Not on Prism's timeline.",)), now) is None
    assert platform.capabilities() == Capabilities(
        impressions=True, profile_clicks=True, unsummoned_replies=False, search=True
    )

    assert {_endpoint(s) for s in seen} == ENDPOINTS
    assert all(s.authorization == "Bearer oauth2-user-token-EEEE" for s in seen)
    assert all(200 <= s.status < 300 for s in seen), [(s.url, s.status) for s in seen if s.status >= 300]
    _assert_no_violations(prism, seen, mark)


def test_oauth1_requests_break_nothing_but_the_scheme_prism_cannot_check(prism: PrismServer, loop: Loop) -> None:
    """Prism 5 has no handler for the spec's `UserToken` scheme (http, scheme OAuth): it answers 401
    "Invalid security scheme used" to every OAuth 1.0a request. Everything else about the requests
    (path, query, body) must still be valid; the signature itself is checked by the fake, with oauthlib."""
    mark = prism.log_size()
    platform = XPlatform(XCredentials.oauth1(*SECRETS), loop.clock, base_url=prism.url, user_id=USER_ID)
    seen = prism.attach(platform.session)
    now = loop.clock.now()
    calls = [
        lambda: platform.publish(PublishRequest("p", ("A post.",)), now),
        lambda: platform.publish(PublishRequest("r", ("A reply.",), in_reply_to=OTHER_POST), now),
        lambda: platform.metrics(_young_ids(loop, 3) + [OTHER_POST], now),
        lambda: platform.follower_count(now),
        lambda: platform.check_credentials(now),
        lambda: platform.mentions(now - timedelta(hours=6), now),
        lambda: platform.search_recent("sleep", now),
        lambda: platform.find_published(PublishRequest("p", ("A post.",)), now),
    ]
    for call in calls:
        with pytest.raises(AuthFailed) as refused:
            call()
        message = str(refused.value)
        assert "GROWTHLOOP_X_ACCESS_TOKEN" in message
        assert not any(secret in message for secret in SECRETS)

    assert {_endpoint(s) for s in seen} == ENDPOINTS
    for s in seen:
        assert s.status == 401
        assert s.request_violations() == [
            {"location": ["request"], "severity": "Error", "code": 401, "message": "Invalid security scheme used"}
        ], (s.url, s.violations)
        params = dict(re.findall(r'(oauth_[a-z_]+)="([^"]*)"', s.authorization))
        assert s.authorization.startswith("OAuth ")
        assert params.keys() == {
            "oauth_consumer_key",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_timestamp",
            "oauth_token",
            "oauth_version",
        }
        assert params["oauth_consumer_key"] == SECRETS[0] and params["oauth_token"] == SECRETS[2]
        assert params["oauth_signature_method"] == "HMAC-SHA1"
    logged = prism.logged_request_violations(mark)
    assert logged and all(line.endswith("Violation: request Invalid security scheme used") for line in logged)
