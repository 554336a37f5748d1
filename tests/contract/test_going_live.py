"""Going live safely: init writes settings without secrets, a real platform starts as a dry run (every
stage runs, nothing is sent) until `live = true`, and doctor checks the credentials with one harmless call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from growthloop.adapters.platforms.dry_run import DryRunPlatform
from growthloop.adapters.store.tables import content_metadata, post_attempts
from growthloop.audit.doctor import FAIL, PASS, check_credentials
from growthloop.bootstrap import make_platform
from growthloop.config import load_settings
from growthloop.jobs.registry import JOBS
from tests.conftest import Loop
from tests.contract.fake_x import FAKE_URL, FakeX

GROWTHLOOP = str(Path(sys.executable).with_name("growthloop"))
TOKEN = "user-token-5555aaaa"


def test_init_writes_a_dry_run_settings_file_without_secrets(tmp_path: Path) -> None:
    done = subprocess.run(
        [GROWTHLOOP, "init", "--platform", "x", "--db", "live.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    written = (tmp_path / "growthloop.toml").read_text()
    assert 'platform = "x"' in written and "live = false" in written
    assert "GROWTHLOOP_X_ACCESS_TOKEN" in done.stdout and "TOKEN" not in written.upper().replace("# ", "")
    settings = load_settings(tmp_path / "growthloop.toml")
    assert settings.platform == "x" and settings.live is False
    again = subprocess.run(
        [GROWTHLOOP, "init", "--platform", "x", "--db", "live.db"], cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 2 and "not overwritten" in again.stderr


def _x_loop(store, settings, monkeypatch: pytest.MonkeyPatch, live: bool) -> tuple[Loop, FakeX]:  # type: ignore[no-untyped-def]
    """A loop whose X adapter talks to the stateful fake at the HTTP edge (the SDK's session)."""
    monkeypatch.setenv("GROWTHLOOP_X_OAUTH2_USER_TOKEN", TOKEN)
    x_settings = settings.model_copy(
        update={"platform": "x", "live": live, "x": settings.x.model_copy(update={"base_url": FAKE_URL})}
    )
    loop = Loop(store, x_settings)
    fake = FakeX(loop.clock, bearer=TOKEN)

    def connected(*args, **kwargs):  # type: ignore[no-untyped-def]
        platform = make_platform(*args, **kwargs)
        inner = platform.inner if isinstance(platform, DryRunPlatform) else platform  # type: ignore[attr-defined]
        inner.session.mount(FAKE_URL, fake)
        return platform

    monkeypatch.setattr("growthloop.bootstrap.make_platform", connected)
    loop.wiring.platform = connected(x_settings, store, loop.clock)
    return loop, fake


def _run(loop: Loop, job: str) -> None:
    w = loop.wiring
    JOBS[job](w.store, w.platform, w.generator, w.clock, w.account, w.settings, w.records)


def test_a_dry_run_runs_every_stage_but_sends_nothing(
    store,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop, fake = _x_loop(store, settings, monkeypatch, live=False)
    assert isinstance(loop.wiring.platform, DryRunPlatform)
    for job in ("followers", "plan", "post"):
        _run(loop, job)
    with store.connect() as conn:
        first = conn.execute(select(content_metadata).order_by(content_metadata.c.id)).first()
        attempts = conn.execute(select(post_attempts.c.outcome)).scalars().all()
    assert first.status == "skipped" and first.status_reason.startswith("dry run: not sent to x")
    assert attempts == ["dry_run"]  # the attempt still counts against the rate limit
    assert fake.calls("POST", "/2/tweets") == []  # nothing was sent
    assert fake.calls("GET", "/2/users/me")  # but the reads ran


def test_doctor_checks_the_credentials_by_name_never_by_value(
    store,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop, fake = _x_loop(store, settings, monkeypatch, live=False)
    good = check_credentials(loop.wiring.settings, store, loop.clock.now())
    assert good.state == PASS and "dry run" in good.measured
    monkeypatch.setenv("GROWTHLOOP_X_OAUTH2_USER_TOKEN", "wrong-token-0000")
    wrong = check_credentials(loop.wiring.settings, store, loop.clock.now())
    assert wrong.state == FAIL and "GROWTHLOOP_X_OAUTH2_USER_TOKEN" in (wrong.cause or "")
    assert "wrong-token-0000" not in wrong.measured + (wrong.cause or "") + (wrong.fix or "")
    monkeypatch.delenv("GROWTHLOOP_X_OAUTH2_USER_TOKEN")
    missing = check_credentials(loop.wiring.settings, store, loop.clock.now())
    assert missing.state == FAIL and "GROWTHLOOP_X_" in (missing.cause or "")
