"""Contract tests of the X adapter: Stoplight Prism serving the official X API v2 spec, and a stateful fake.

Prism (npm `@stoplight/prism-cli`, pinned in the project's package.json; `npm ci` in the project root
installs it under node_modules/) is started once per session on a free 127.0.0.1 port, in dynamic mode
with a fixed seed so that its generated bodies are the same at every run. Every request it judges
against the spec is reported two ways, and both are collected: the `sl-violations` header of its answer
(read by a response hook on the adapter's session) and the "Violation: request" lines of its log.

Where the specs are: the Mastodon and Bluesky specs are copied in tests/data (tests/data_files.py; an override
folder under $GROWTHLOOP_SHARED_DIR); the X spec, whose licence does not allow a copy, is read from
../shared/x-api/openapi.json beside the project root, or under $GROWTHLOOP_SHARED_DIR.
Without Prism or a spec the Prism tests are skipped, with the reason; with CI=true they fail instead, except
for a missing X spec: a clone with no shared folder beside it cannot have it, and must still pass.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.data_files import data_file, shared_file

PROJECT = Path(__file__).resolve().parents[2]
SPEC = shared_file("x-api/openapi.json")
MASTODON_SPEC = data_file("mastodon-api/openapi.json")
PRISM = PROJECT / "node_modules" / ".bin" / "prism"
# Prism's dynamic mode draws every body from this seed. With 5 the generated users/me carries a
# non-negative followers_count, so the followers stage can store it; other seeds draw negative counts,
# which the adapter refuses (tests/contract/test_x_behaviour.py covers that refusal).
PRISM_SEED = "5"
STARTUP_TIMEOUT = 90.0


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """These tests are about the HTTP edge: SQLite is enough (tests/integration covers PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'growthloop.db'}"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _violations(raw: str | None) -> list[dict[str, Any]]:
    """The `sl-violations` header: a JSON list. When it is long Prism sends "Too many violations! " and a cut
    list; that is kept as one entry of unknown location (Prism's log still names each request violation)."""
    if not raw:
        return []
    try:
        return list(json.loads(raw))
    except ValueError:
        return [{"location": ["unparsed"], "message": raw[:300]}]


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@dataclass
class Seen:
    """One request Prism answered, with the violations it reported in `sl-violations`."""

    method: str
    url: str
    status: int
    authorization: str
    body: Any
    violations: list[dict[str, Any]]
    answer: Any = None  # the response's JSON body (None when it has none)

    def request_violations(self) -> list[dict[str, Any]]:
        return [v for v in self.violations if (v.get("location") or [None])[0] == "request"]


@dataclass
class PrismServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def logged_request_violations(self, since: int = 0) -> list[str]:
        """Prism's own log lines reporting a request that breaks the spec."""
        return [line.strip() for line in self.log()[since:].splitlines() if "Violation: request" in line]

    def log_size(self) -> int:
        return len(self.log())

    def attach(self, session: requests.Session) -> list[Seen]:
        """Record every answer on `session`, with the violations Prism reported for it, in the list returned."""
        seen: list[Seen] = []

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            raw = response.headers.get("sl-violations")
            body = response.request.body
            seen.append(
                Seen(
                    method=str(response.request.method),
                    url=str(response.request.url),
                    status=response.status_code,
                    authorization=str(response.request.headers.get("Authorization", "")),
                    body=json.loads(body) if isinstance(body, str | bytes) and body else None,
                    violations=_violations(raw),
                    answer=_json_or_none(response),
                )
            )

        session.hooks["response"].append(hook)
        return seen


def _serve(spec: Path, args: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    """Prism serving `spec` on a free port (mock mode, `args` added), stopped with everything it forked."""
    if not PRISM.exists():
        _unavailable(f"Prism is not installed at {PRISM}: run `npm ci` in {PROJECT}")
    if not spec.exists():
        if spec == SPEC:  # not in the repository (its licence), so a clone without the shared folder cannot have it
            pytest.skip(f"the X API spec is not at {spec}: its licence keeps it out of the repository")
        _unavailable(f"the API spec is missing at {spec} (set GROWTHLOOP_SHARED_DIR)")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), *args, str(spec)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT,
            start_new_session=True,  # its own process group: stopped with everything it forked
        )
    server = PrismServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "Prism is listening" not in server.log():
            if process.poll() is not None:
                pytest.fail(f"Prism exited with status {process.returncode}:\n{server.log()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"Prism did not start within {STARTUP_TIMEOUT:.0f} s:\n{server.log()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture(scope="session")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    yield from _serve(SPEC, ["--dynamic", "--seed", PRISM_SEED], tmp_path_factory)


@pytest.fixture(scope="session")
def mastodon_prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    """Prism serving the Mastodon API spec in static mode: its answers are the documentation's examples (a
    request can ask for a generated body instead with `Prefer: dynamic=true`)."""
    yield from _serve(MASTODON_SPEC, [], tmp_path_factory)
