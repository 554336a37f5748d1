"""Going live on Bluesky: init writes settings without secrets, the account starts as a dry run until
`live = true`, doctor checks the app password with one harmless call, and a refused password or a wrong
base URL ends a command in one line naming the variable or the setting, exit 2, nothing written."""

from __future__ import annotations

import functools
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from growthloop.adapters.platforms import bluesky as bluesky_package
from growthloop.adapters.platforms.bluesky import BlueskyPlatform
from growthloop.adapters.platforms.dry_run import DryRunPlatform
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts, content_metadata, job_runs, post_attempts
from growthloop.audit.doctor import FAIL, PASS, check_credentials
from growthloop.bootstrap import make_platform
from growthloop.config import load_settings
from tests.conftest import Loop
from tests.contract.fake_bluesky import HANDLE, PASSWORD, FakeBluesky
from tests.e2e.conftest import invoke_cli


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command in this process (`invoke_cli`: no GROWTHLOOP_* variable but `env`'s): its output, exit
    status and what it writes are tested here, not its process (tests/contract/test_going_live.py runs `init`
    through the installed command)."""
    return invoke_cli(args, cwd, env)


def test_init_writes_bluesky_settings_in_dry_run_without_secrets(tmp_path: Path) -> None:
    done = _cli(tmp_path, "init", "--platform", "bluesky", "--db", "live.db")
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "growthloop.toml").read_text()
    assert 'platform = "bluesky"' in written and "live = false" in written and "[bluesky]" in written
    assert "GROWTHLOOP_BLUESKY_HANDLE" in done.stdout and "GROWTHLOOP_BLUESKY_APP_PASSWORD" in done.stdout
    assert "PASSWORD" not in written.upper()
    settings = load_settings(tmp_path / "growthloop.toml")
    assert settings.platform == "bluesky" and settings.live is False
    assert settings.bluesky.base_url == "https://bsky.social"
    unknown = _cli(tmp_path, "init", "--platform", "myspace", "--config", "other.toml")
    assert unknown.returncode == 2 and "x, mastodon, bluesky" in unknown.stderr
    assert not (tmp_path / "other.toml").exists()


class _RefusingPds(BaseHTTPRequestHandler):
    """An XRPC server that refuses every log-in, as a PDS does for a wrong app password."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = json.dumps({"error": "AuthenticationRequired", "message": "Invalid identifier or password"}).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_pds() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingPds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _counts(db: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (accounts, job_runs)}
    engine.dispose()
    return counts


@pytest.mark.parametrize("problem", ["password", "base_url", "missing"])
def test_refused_credentials_or_a_wrong_base_url_end_in_one_line_exit_2_nothing_written(
    tmp_path: Path, refusing_pds: str, problem: str
) -> None:
    base_url = {"password": refusing_pds, "base_url": "http://127.0.0.1:9", "missing": refusing_pds}[problem]
    (tmp_path / "growthloop.toml").write_text(f'platform = "bluesky"\n[bluesky]\nbase_url = "{base_url}"\n')
    store = SqlStore(f"sqlite:///{tmp_path / 'live.db'}")
    store.upgrade()
    store.dispose()
    env = {
        "GROWTHLOOP_BLUESKY_HANDLE": HANDLE,
        "GROWTHLOOP_BLUESKY_APP_PASSWORD": "wrong-pass-1234",
    }
    if problem == "missing":
        del env["GROWTHLOOP_BLUESKY_APP_PASSWORD"]
    before = _counts(tmp_path / "live.db")
    commands = (("run",), ("jobs", "run", "followers")) if problem == "password" else (("jobs", "run", "followers"),)
    for command in commands:
        done = _cli(tmp_path, *command, "--db", "live.db", env=env)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (command, done.stderr)
        expected = {
            "password": "GROWTHLOOP_BLUESKY_APP_PASSWORD",
            "base_url": "bluesky.base_url",
            "missing": "environment: GROWTHLOOP_BLUESKY_APP_PASSWORD: not set",
        }[problem]
        assert expected in lines[0] and "wrong-pass-1234" not in done.stderr + done.stdout
    assert _counts(tmp_path / "live.db") == before and before["job_runs"] == 0


def _bluesky_loop(store, settings, monkeypatch: pytest.MonkeyPatch, live: bool) -> tuple[Loop, FakeBluesky]:  # type: ignore[no-untyped-def]
    """A loop whose Bluesky adapter, built by bootstrap, talks to the stateful fake at the httpx edge."""
    monkeypatch.setenv("GROWTHLOOP_BLUESKY_HANDLE", HANDLE)
    monkeypatch.setenv("GROWTHLOOP_BLUESKY_APP_PASSWORD", PASSWORD)
    loop = Loop(store, settings.model_copy(update={"platform": "bluesky", "live": live}))
    fake = FakeBluesky(loop.clock)
    monkeypatch.setattr(bluesky_package, "BlueskyPlatform", functools.partial(BlueskyPlatform, transport=fake))
    loop.wiring.platform = make_platform(loop.wiring.settings, store, loop.clock)
    return loop, fake


def test_a_dry_run_runs_every_stage_but_sends_nothing(store, settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    loop, fake = _bluesky_loop(store, settings, monkeypatch, live=False)
    assert isinstance(loop.wiring.platform, DryRunPlatform)
    for job in ("followers", "plan", "post", "replies"):
        loop.run(job)
    with store.connect() as conn:
        first = conn.execute(select(content_metadata).order_by(content_metadata.c.id)).first()
        attempts = conn.execute(select(post_attempts.c.outcome)).scalars().all()
    assert first.status == "skipped" and first.status_reason.startswith("dry run: not sent to bluesky")
    assert attempts == ["dry_run"]
    assert fake.calls("com.atproto.repo.createRecord") == []  # nothing was sent
    assert fake.calls("app.bsky.actor.getProfile") and fake.calls("app.bsky.notification.listNotifications")


def test_doctor_checks_the_app_password_with_one_call_naming_never_showing_it(
    store,
    settings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    loop, fake = _bluesky_loop(store, settings, monkeypatch, live=False)
    fake.requests.clear()
    good = check_credentials(loop.wiring.settings, store, loop.clock.now())
    assert good.state == PASS and f"@{HANDLE}" in good.measured and "dry run" in good.measured
    assert [r.method for r in fake.requests] == ["com.atproto.server.createSession"]  # one harmless call
    monkeypatch.setenv("GROWTHLOOP_BLUESKY_APP_PASSWORD", "wrong-pass-0000")
    wrong = check_credentials(loop.wiring.settings, store, loop.clock.now())
    text = wrong.measured + (wrong.cause or "") + (wrong.fix or "")
    assert wrong.state == FAIL and "GROWTHLOOP_BLUESKY_APP_PASSWORD" in text and "wrong-pass-0000" not in text
