"""Going live on Mastodon: init writes settings without secrets, the account starts as a dry run (every stage
runs, nothing is sent) until `live = true`, doctor checks the token with one harmless call, and a wrong
instance URL or a refused token ends a command in one line naming the setting or variable, exit 2,
nothing written. The commands run in this process (`invoke_cli`); tests/contract/test_going_live.py runs `init`
through the installed command."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from growthloop.adapters.platforms.dry_run import DryRunPlatform
from growthloop.adapters.platforms.mastodon import platform as mastodon_platform
from growthloop.adapters.platforms.mastodon.edge import DocumentedSession
from growthloop.adapters.store.tables import content_metadata, job_runs, metadata, post_attempts
from growthloop.audit.doctor import FAIL, PASS, check_credentials
from growthloop.bootstrap import make_platform
from growthloop.config import load_settings
from growthloop.jobs.registry import JOBS
from tests.conftest import Loop
from tests.contract.fake_mastodon import FAKE_URL, FakeMastodon
from tests.e2e.conftest import invoke_cli

TOKEN = "mastodon-token-9999zzzz"
VARIABLE = "GROWTHLOOP_MASTODON_ACCESS_TOKEN"


def test_init_writes_a_dry_run_settings_file_without_secrets(tmp_path: Path) -> None:
    done = invoke_cli(["init", "--platform", "mastodon", "--db", "live.db"], tmp_path)
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "growthloop.toml").read_text()
    assert 'platform = "mastodon"' in written and "live = false" in written and "[mastodon]" in written
    assert VARIABLE in done.stdout and VARIABLE not in written
    settings = load_settings(tmp_path / "growthloop.toml")
    assert settings.platform == "mastodon" and settings.live is False and settings.mastodon.base_url is None


def _mastodon_loop(store, settings, monkeypatch: pytest.MonkeyPatch, live: bool) -> tuple[Loop, FakeMastodon]:  # type: ignore[no-untyped-def]
    """A loop whose Mastodon adapter talks to the stateful fake, mounted on the session Mastodon.py uses."""
    monkeypatch.setenv(VARIABLE, TOKEN)
    m_settings = settings.model_copy(
        update={
            "platform": "mastodon",
            "live": live,
            "mastodon": settings.mastodon.model_copy(update={"base_url": FAKE_URL}),
        }
    )
    loop = Loop(store, m_settings)
    fake = FakeMastodon(loop.clock, TOKEN, max_characters=300)

    class Connected(DocumentedSession):
        def __init__(self) -> None:
            super().__init__()
            self.mount(FAKE_URL, fake)

    monkeypatch.setattr(mastodon_platform, "DocumentedSession", Connected)
    loop.wiring.platform = make_platform(m_settings, store, loop.clock)
    return loop, fake


def _run(loop: Loop, job: str) -> None:
    w = loop.wiring
    JOBS[job](w.store, w.platform, w.generator, w.clock, w.account, w.settings, w.records)


def test_a_dry_run_runs_every_stage_with_the_instances_length_rule_but_sends_nothing(
    store,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop, fake = _mastodon_loop(store, settings, monkeypatch, live=False)
    assert isinstance(loop.wiring.platform, DryRunPlatform)
    for job in ("followers", "plan", "post"):
        _run(loop, job)
    with store.connect() as conn:
        rows = conn.execute(select(content_metadata).order_by(content_metadata.c.id)).all()
        attempts = conn.execute(select(post_attempts.c.outcome)).scalars().all()
    first = rows[0]
    assert first.status == "skipped" and first.status_reason.startswith("dry run: not sent to mastodon")
    assert attempts == ["dry_run"]
    assert fake.calls("POST", "/api/v1/statuses") == []  # nothing was sent
    assert fake.calls("GET", "/api/v1/accounts/verify_credentials")  # but the reads ran
    # the writer and the gate worked to the instance's limit (300 here), as Mastodon counts
    assert all(len(p) <= 300 for r in rows for p in (r.thread_parts or [r.content]))


def test_live_posts_go_out_with_their_idempotency_keys(
    store,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop, fake = _mastodon_loop(store, settings, monkeypatch, live=True)
    for job in ("plan", "post"):
        _run(loop, job)
    with store.connect() as conn:
        posted = conn.execute(select(content_metadata).where(content_metadata.c.status == "posted")).all()
    assert len(posted) == 1 and posted[0].tweet_id in fake.statuses
    keys = [r.headers.get("Idempotency-Key") for r in fake.calls("POST", "/api/v1/statuses")]
    assert keys and all(k and k.startswith(posted[0].decision_id + "/") for k in keys)


def test_doctor_checks_the_token_by_name_never_by_value(
    store,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop, fake = _mastodon_loop(store, settings, monkeypatch, live=False)
    asked = len(fake.calls("GET", "/api/v1/accounts/verify_credentials"))
    good = check_credentials(loop.wiring.settings, store, loop.clock.now())
    assert good.state == PASS and "@growthloop" in good.measured and "dry run" in good.measured
    assert len(fake.calls("GET", "/api/v1/accounts/verify_credentials")) == asked + 1  # one harmless call
    monkeypatch.setenv(VARIABLE, "wrong-token-0000")
    wrong = check_credentials(loop.wiring.settings, store, loop.clock.now())
    assert wrong.state == FAIL and VARIABLE in (wrong.cause or "")
    assert "wrong-token-0000" not in wrong.measured + (wrong.cause or "") + (wrong.fix or "")


# -- the command line: one line, exit 2, nothing written ------------------------------------------------------


class _Instance(http.server.BaseHTTPRequestHandler):
    """An instance that answers its public endpoint and refuses every token."""

    def do_GET(self) -> None:  # noqa: N802 (the handler's API)
        if self.path == "/api/v2/instance":
            status, body = (
                200,
                {"configuration": {"statuses": {"max_characters": 500, "characters_reserved_per_url": 23}}},
            )
        else:
            status, body = 401, {"error": "The access token is invalid"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_instance() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Instance)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _counts(db: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables
        }
    engine.dispose()
    return counts


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("closed_port", "settings: mastodon.base_url: http://127.0.0.1:9 does not answer as a Mastodon instance"),
        ("no_token", f"environment: {VARIABLE}: not set"),
        ("refused_token", f"environment: {VARIABLE}: refused by http://127.0.0.1:"),
    ],
)
def test_a_wrong_instance_or_token_is_one_line_exit_2_nothing_written(
    tmp_path: Path, refusing_instance: str, case: str, expected: str
) -> None:
    init = invoke_cli(["init", "--platform", "mastodon", "--db", "m.db"], tmp_path)
    assert init.returncode == 0, init.stderr
    url = "http://127.0.0.1:9" if case == "closed_port" else refusing_instance
    config = tmp_path / "growthloop.toml"
    config.write_text(config.read_text().replace('# base_url = "https://mastodon.example"', f'base_url = "{url}"'))
    env = {} if case == "no_token" else {VARIABLE: "refused-token-4242"}  # and no other GROWTHLOOP_* variable
    before = _counts(tmp_path / "m.db")
    done = invoke_cli(["jobs", "run", "followers"], tmp_path, env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert "refused-token-4242" not in done.stderr + done.stdout
    assert _counts(tmp_path / "m.db") == before and before[job_runs.name] == 0
