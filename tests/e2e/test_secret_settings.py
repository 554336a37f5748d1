"""A secret in the settings file is refused: a webhook URL (its path is its token) comes only from the
environment or `.env`, as X and LLM keys do. One line naming the file and the key, exit 2, nothing written.

The commands run in this process (`invoke_cli`) but for `init`'s refusal, which goes through the installed
command end to end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import copy_db, describe, dump_tables, init_db, invoke_cli, run_cli

WEBHOOK = "https://hooks.example.com/services/T0000/B0000/whsecret0123456789abcdef"


def _refused(proc: subprocess.CompletedProcess[str], config: Path) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, describe(proc)
    line = lines[0]
    assert config.name in line and "alerts.webhook_url" in line and "GROWTHLOOP_ALERTS__WEBHOOK_URL" in line
    assert "whsecret" not in line and "whsecret" not in proc.stdout
    return line


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`growthloop init`, once for the module; each test works on its own copy."""
    d = tmp_path_factory.mktemp("secret")
    return init_db(d / "template.db", d, run=invoke_cli)


@pytest.mark.parametrize("command", [["status"], ["doctor"], ["jobs", "run", "plan"], ["simulate", "--days", "1"]])
def test_a_webhook_url_in_the_settings_file_is_refused(command: list[str], initialised: Path, tmp_path: Path) -> None:
    db = copy_db(initialised, tmp_path / "g.db")
    before = dump_tables(db)
    config = tmp_path / "growthloop.toml"
    config.write_text(f'[alerts]\nwebhook_url = "{WEBHOOK}"\ncheck_every = "5m"\n', encoding="utf-8")
    _refused(invoke_cli([*command, "--config", config, "--db", db], tmp_path), config)
    assert dump_tables(db) == before


def test_init_refuses_it_before_creating_the_database(tmp_path: Path) -> None:
    config = tmp_path / "growthloop.toml"
    config.write_text(f'[alerts]\nwebhook_url = "{WEBHOOK}"\n', encoding="utf-8")
    _refused(run_cli(["init", "--db", tmp_path / "new.db"], tmp_path), config)
    assert not (tmp_path / "new.db").exists()


def test_from_the_environment_it_is_accepted(initialised: Path, tmp_path: Path) -> None:
    db = copy_db(initialised, tmp_path / "g.db")
    proc = invoke_cli(["status", "--db", db], tmp_path, env={"GROWTHLOOP_ALERTS__WEBHOOK_URL": WEBHOOK})
    assert proc.returncode == 0, describe(proc)
    assert "whsecret" not in proc.stdout + proc.stderr
