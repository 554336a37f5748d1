"""The Mastodon adapter against Stoplight Prism serving the Mastodon API spec (shared/mastodon-api/openapi.json).

A test fails when Prism reports any request that breaks the spec: a body that is not the JSON the spec
describes, a query parameter of the wrong type, a path that does not exist (such as `/api/v2/instance/`
with Mastodon.py's trailing slash), a POST /api/v1/statuses without its Idempotency-Key. Prism answers
with the documentation's examples (static mode); verify_credentials' example is not a whole account, so
that one call asks Prism for a generated account (`Prefer: dynamic=true`). What the answers mean is
tested against the stateful fake (test_mastodon_behaviour.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.platforms.mastodon import MastodonCredentials, MastodonPlatform
from growthloop.domain import MASTODON, Capabilities, Mention, PostMetrics, PublishRequest
from growthloop.errors import PlatformError
from growthloop.ports import Platform
from tests.contract.conftest import PrismServer, Seen

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TOKEN = "mastodon-token-7777abcd"
# The documentation's example ids, so that Prism's examples line up with what is asked.
STATUS = "103254962155278888"


class _AskForAnAccount(HTTPAdapter):
    """Asks Prism for a generated body where the documentation's example is not an account."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if str(request.url).endswith("/api/v1/accounts/verify_credentials"):
            request.headers["Prefer"] = "dynamic=true"
        return super().send(request, *args, **kwargs)


@pytest.fixture
def connected(mastodon_prism: PrismServer) -> Iterator[tuple[MastodonPlatform, list[Seen], int]]:
    platform = MastodonPlatform(MastodonCredentials(TOKEN), VirtualClock(NOW), base_url=mastodon_prism.url)
    platform.session.mount(mastodon_prism.url, _AskForAnAccount())
    seen = mastodon_prism.attach(platform.session)
    yield platform, seen, mastodon_prism.log_size()


def _endpoint(seen: Seen) -> str:
    path = re.sub(r"^/api/v1/accounts/(?!verify_credentials$)[^/]+", "/api/v1/accounts/:id", urlsplit(seen.url).path)
    return f"{seen.method} {re.sub(r'^/api/v1/statuses/[^/]+$', '/api/v1/statuses/:id', path)}"


def _assert_no_violations(prism: PrismServer, seen: list[Seen], log_mark: int) -> None:
    assert seen, "no request reached Prism"
    reported = [(s.method, s.url, s.request_violations()) for s in seen if s.request_violations()]
    assert reported == [], f"Prism reported requests that break the spec: {reported}"
    logged = prism.logged_request_violations(log_mark)
    assert logged == [], f"Prism logged request violations: {logged}"
    assert all(s.authorization == f"Bearer {TOKEN}" for s in seen)
    assert all(s.status < 400 for s in seen), [(s.method, s.url, s.status) for s in seen if s.status >= 400]


def test_every_call_the_adapter_makes_is_one_the_spec_allows(
    mastodon_prism: PrismServer, connected: tuple[MastodonPlatform, list[Seen], int]
) -> None:
    platform, seen, mark = connected
    account = platform.connect()
    assert account.user_id and account.username
    caps = platform.capabilities()
    # the documentation's example instance (mastodon.social): 500 characters, URLs as 23
    assert (caps.length_rule, caps.max_weighted_length, caps.url_weight) == (MASTODON, 500, 23)
    assert not caps.impressions and not caps.profile_clicks and not caps.unsummoned_replies

    receipt = platform.publish(PublishRequest(key="d-0000001", parts=("First part.", "Second part.")), NOW)
    assert receipt.platform_id == STATUS and len(receipt.part_ids) == 2
    platform.publish(PublishRequest(key="d-0000002", parts=("A reply.",), in_reply_to=STATUS), NOW)
    metrics = platform.metrics([STATUS, "108880211901672326"], NOW)
    assert all(isinstance(m, PostMetrics) and m.impressions is None and m.profile_clicks is None for m in metrics)
    platform._batch = False  # as on an instance older than 4.3: one GET /api/v1/statuses/:id per status
    assert all(m.platform_id == STATUS for m in platform.metrics([STATUS], NOW))  # the example is another status
    try:  # Prism's generated account may carry a negative count, which the adapter refuses
        assert platform.follower_count(NOW) >= 0
    except PlatformError as exc:
        assert "no valid followers_count" in str(exc)
    found = platform.mentions(datetime(2019, 1, 1, tzinfo=UTC), NOW)
    assert all(isinstance(m, Mention) for m in found)
    assert all(m.kind == "search" for m in platform.search_recent("sleep science", NOW))
    platform.find_published(PublishRequest(key="d-0000003", parts=("Not posted.",)), NOW)

    _assert_no_violations(mastodon_prism, seen, mark)
    assert {_endpoint(s) for s in seen} == {
        "GET /api/v2/instance",
        "GET /api/v1/accounts/verify_credentials",
        "POST /api/v1/statuses",
        "GET /api/v1/statuses",
        "GET /api/v1/statuses/:id",
        "GET /api/v1/notifications",
        "GET /api/v2/search",
        "GET /api/v1/accounts/:id/statuses",
    }
    posts = [s for s in seen if s.method == "POST"]
    assert [p.body for p in posts] == [
        {"status": "First part.", "sensitive": False},
        {"status": "Second part.", "in_reply_to_id": STATUS, "sensitive": False},
        {"status": "A reply.", "in_reply_to_id": STATUS, "sensitive": False},
    ]


def test_every_status_post_carries_its_own_idempotency_key(
    mastodon_prism: PrismServer, connected: tuple[MastodonPlatform, list[Seen], int]
) -> None:
    platform, _seen, mark = connected
    keys: list[str] = []
    platform.session.hooks["response"].append(
        lambda r, *a, **k: keys.append(str(r.request.headers.get("Idempotency-Key")))
    )
    platform.publish(PublishRequest(key="d-0000009", parts=("One.", "Two.", "Three.")), NOW)
    assert keys[-3:] == ["d-0000009/1", "d-0000009/2", "d-0000009/3"]
    assert mastodon_prism.logged_request_violations(mark) == []


def test_the_adapter_is_a_platform(connected: tuple[MastodonPlatform, list[Seen], int]) -> None:
    platform, _, _ = connected
    assert isinstance(platform, Platform)
    assert isinstance(platform.capabilities(), Capabilities)
    assert TOKEN not in repr(platform)
