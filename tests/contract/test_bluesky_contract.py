"""The Bluesky adapter against Stoplight Prism serving the AT Protocol lexicons as OpenAPI (shared/bluesky-api).

A test fails when Prism reports any request that breaks the spec: a missing or unknown parameter, a
body the lexicon does not allow, a missing bearer token. The spec is served from a copy made at test
time, changed in three ways that touch no request the adapter makes, each because Prism cannot use
the file as it is:

- the paths that refer to schemas the conversion left out (23 `com.atproto.admin.defs.*` views, all admin
  and moderation methods) are dropped: Prism refuses to start on a dangling reference;
- every path gets the `/xrpc` prefix that the spec puts in its servers' URLs, which Prism does not route by;
- strings of the lexicon formats `did`, `at-uri`, `cid` and `handle` get a pattern, so that Prism's
  generated answers are well-formed (its faker knows no such formats and would answer a DID of "dolor").

What the answers mean is tested against the stateful fake (test_bluesky_behaviour.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from growthloop.adapters.platforms.bluesky import BlueskyCredentials, BlueskyPlatform
from growthloop.adapters.store.tables import content_metadata, follower_snapshots
from growthloop.domain import POSTED, Mention, PostMetrics, PublishRequest
from growthloop.errors import ContentRejected
from tests.conftest import Loop
from tests.contract.conftest import PRISM_SEED, PrismServer, Seen, _serve, _unavailable, _violations
from tests.data_files import data_file

SPEC = data_file("bluesky-api/openapi.json")
APP_PASSWORD = "prism-app-password-FFFF"
PATTERNS = {
    "did": "^did:plc:[a-z2-7]{24}$",
    "at-uri": "^at://did:plc:[a-z2-7]{24}/app[.]bsky[.]feed[.]post/[a-z2-7]{13}$",
    "cid": "^bafyrei[a-z2-7]{52}$",
    "handle": "^[a-z]{4,12}[.]test$",
}
ENDPOINTS = {
    "com.atproto.server.createSession",
    "com.atproto.server.refreshSession",
    "com.atproto.repo.createRecord",
    "com.atproto.repo.listRecords",
    "com.atproto.identity.resolveHandle",
    "app.bsky.feed.getPosts",
    "app.bsky.actor.getProfile",
    "app.bsky.notification.listNotifications",
    "app.bsky.feed.searchPosts",
}


def _refs(node: Any) -> set[str]:
    return set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(node)))


def _with_patterns(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") in PATTERNS and "pattern" not in node:
            node["pattern"] = PATTERNS[node["format"]]
        for value in node.values():
            _with_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _with_patterns(value)


def servable_copy(spec: Path, into: Path) -> Path:
    """The spec as Prism can serve it (see the module's docstring for the three changes and why)."""
    doc = json.loads(spec.read_text())
    schemas = doc["components"]["schemas"]
    dangling = _refs(doc) - set(schemas)
    grew = True
    while grew:  # schemas that refer, at any depth, to a missing one
        broken = {name for name, schema in schemas.items() if name not in dangling and _refs(schema) & dangling}
        dangling |= broken
        grew = bool(broken)
    doc["paths"] = {"/xrpc" + path: item for path, item in doc["paths"].items() if not _refs(item) & dangling}
    doc["components"]["schemas"] = {name: s for name, s in schemas.items() if name not in dangling}
    doc.pop("servers", None)
    _with_patterns(doc)
    out = into / "bluesky-openapi.json"
    out.write_text(json.dumps(doc))
    return out


@pytest.fixture(scope="session")
def bluesky_prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    if not SPEC.exists():
        _unavailable(f"the Bluesky API spec is missing at {SPEC} (set GROWTHLOOP_SHARED_DIR)")
    servable = servable_copy(SPEC, tmp_path_factory.mktemp("bluesky-spec"))
    yield from _serve(servable, ["--dynamic", "--seed", PRISM_SEED], tmp_path_factory)


# Prism's faker fails on the post view (a deep union of embeds) now and then and answers 500: for the
# methods that answer post views, the request asks Prism for its static example instead (a header Prism
# reads and strips; the request itself is validated all the same).
STATIC = {"app.bsky.feed.getPosts", "app.bsky.feed.searchPosts"}


class Recording(httpx.BaseTransport):
    """httpx's own transport, keeping every answer with the violations Prism reported for its request."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seen: list[Seen] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if urlsplit(str(request.url)).path.removeprefix("/xrpc/") in STATIC:
            request.headers["Prefer"] = "dynamic=false"
        response = self.inner.handle_request(request)
        response.read()
        self.seen.append(
            Seen(
                method=request.method,
                url=str(request.url),
                status=response.status_code,
                authorization=request.headers.get("authorization", ""),
                body=json.loads(request.content) if request.content else None,
                violations=_violations(response.headers.get("sl-violations")),
                answer=_json_or_none(response),
            )
        )
        return response


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _nsid(seen: Seen) -> str:
    return urlsplit(seen.url).path.removeprefix("/xrpc/")


def test_every_call_the_adapter_makes_is_one_the_spec_allows(bluesky_prism: PrismServer, loop: Loop) -> None:
    mark = bluesky_prism.log_size()
    recording = Recording()
    platform = BlueskyPlatform(
        BlueskyCredentials("growthloop.test", APP_PASSWORD),
        loop.clock,
        base_url=bluesky_prism.url,
        account=loop.settings.account,
        transport=recording,
    )
    account = platform.connect()
    assert account.did.startswith("did:plc:")
    loop.wiring.platform = platform

    # The stages themselves: plan -> post (twice) -> metrics -> followers -> replies.
    loop.run("plan")
    loop.run("post")
    loop.clock.advance(31 * 60)
    loop.run("post")
    loop.clock.advance(16 * 60)
    loop.run("metrics")
    loop.run("followers")
    loop.run("replies")
    with loop.store.connect() as conn:
        posted = conn.execute(content_metadata.select().where(content_metadata.c.status == POSTED)).all()
        followers = conn.execute(follower_snapshots.select()).all()
    assert len(posted) == 2 and all(r.tweet_id.startswith("did:plc:") for r in posted)
    profiles = [s.answer for s in recording.seen if _nsid(s) == "app.bsky.actor.getProfile"]
    # what the server answered, not a bound the followers stage guarantees anyway
    assert len(followers) == 1 and followers[0].followers == profiles[-1]["followersCount"]

    # Every other call, directly.
    now = loop.clock.now()
    thread = platform.publish(
        PublishRequest("thread-1", ("First, see https://example.com/sleep with @friend.test", "Second.", "Third.")), now
    )
    assert len(thread.part_ids) == 3
    creates = [s.body for s in recording.seen if _nsid(s) == "com.atproto.repo.createRecord"][-3:]
    assert "reply" not in creates[0]["record"] and all("reply" in c["record"] for c in creates[1:])
    assert {f["features"][0]["$type"] for f in creates[0]["record"]["facets"]} >= {"app.bsky.richtext.facet#link"}
    with pytest.raises(ContentRejected, match="gone or was not returned"):  # Prism's getPosts is not about our id
        platform.reply(thread.platform_id, "A reply.", now)
    ids = [f"{account.did}/3kabcdefghij{c}" for c in "234567abcdefghijklmnopqrstuvwxyz"][:30]
    metrics = platform.metrics(ids, now)
    assert all(isinstance(m, PostMetrics) and m.impressions is None for m in metrics)
    lookups = [parse_qs(urlsplit(s.url).query)["uris"] for s in recording.seen if _nsid(s) == "app.bsky.feed.getPosts"]
    assert [len(u) for u in lookups[-2:]] == [25, 5]  # batches of at most 25
    assert (
        platform.follower_count(now)
        == [s.answer for s in recording.seen if _nsid(s) == "app.bsky.actor.getProfile"][-1]["followersCount"]
    )
    found = platform.mentions(now - timedelta(days=1), now) + platform.search_recent("sleep science", now)
    assert all(isinstance(m, Mention) for m in found)
    assert platform.find_published(PublishRequest("k", ("Not among Prism's records.",)), now) is None
    platform._renew()  # the refresh a server's ExpiredToken asks for: its request checked like the others

    assert {_nsid(s) for s in recording.seen} == ENDPOINTS
    assert all(200 <= s.status < 300 for s in recording.seen), [
        (s.url, s.status) for s in recording.seen if s.status >= 300
    ]
    sessions = {"com.atproto.server.createSession", "com.atproto.identity.resolveHandle"}
    assert all(s.authorization.startswith("Bearer ") for s in recording.seen if _nsid(s) not in sessions)
    assert not any(APP_PASSWORD in s.authorization for s in recording.seen)
    reported = [(s.method, s.url, s.request_violations()) for s in recording.seen if s.request_violations()]
    assert reported == [], f"Prism reported requests that break the spec: {reported}"
    logged = bluesky_prism.logged_request_violations(mark)
    assert logged == [], f"Prism logged request violations: {logged}"
