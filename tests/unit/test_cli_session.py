"""The CLI's Session: the options a command is given reach it, and the settings are read once per command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from growthloop.cli import session as session_module
from growthloop.cli.app import app
from growthloop.cli.session import Session
from growthloop.config import Settings


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, args, env={"COLUMNS": "80", "NO_COLOR": "1"})


@pytest.fixture
def initialised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no ./growthloop.toml or .env of the caller's
    for name in ("GROWTHLOOP_DATABASE_URL", "GROWTHLOOP_ACCOUNT", "GROWTHLOOP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "g.db"
    result = _invoke(["init", "--db", str(db), "--account", "alice"])
    assert result.exit_code == 0, result.output
    return db


def test_a_command_reads_its_settings_once_from_the_options_it_was_given(
    initialised: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    real = session_module.load_settings

    def counted(config: Any = None, **overrides: Any) -> Settings:
        calls.append(overrides)
        return real(config, **overrides)

    monkeypatch.setattr(session_module, "load_settings", counted)
    result = _invoke(["status", "--json", "--account", "alice", "--db", str(initialised)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["account"] == "alice"
    assert calls == [{"database_url": f"sqlite:///{initialised}", "account": "alice"}]


def test_an_override_comes_before_the_settings_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Session()
    s.db = str(tmp_path / "g.db")
    s.override(metrics_port=9123)
    assert s.settings.metrics_port == 9123
    with pytest.raises(RuntimeError, match="before the command's overrides"):
        s.override(metrics_port=9124)
    with pytest.raises(RuntimeError, match="open_store"):
        _ = s.store  # nothing opened yet: a command says how it opens its store
