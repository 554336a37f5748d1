"""Bad input to the distributed commands: one line on stderr, exit status 2, nothing written.

The commands run in this process (`invoke_cli`) but for SQLite's refusal, which goes through the installed
command end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from growthloop.adapters.store.tables import accounts, app_state, job_schedule

from ..e2e.conftest import describe, invoke_cli, run_cli
from .conftest import engine_for, simulate_args

DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"  # port 1: nothing listens there


def _one_line_error(proc: Any, *words: str) -> str:
    assert proc.returncode == 2, describe(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), describe(proc)
    for w in words:
        assert w in lines[0], describe(proc)
    assert "Traceback" not in proc.stderr
    return str(lines[0])


def _rows(db: str) -> tuple[int, int, int]:
    engine = engine_for(db)
    try:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (accounts, app_state, job_schedule)
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["worker"], ["dispatch"], simulate_args("", "", 2, 1)])
def test_sqlite_is_refused_for_many_processes(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "one.db"
    args = [a if a != "" else "x" for a in command]
    args = [*args[: args.index("--db")], "--db", str(db), *args[args.index("--db") + 2 :]] if "--db" in args else args
    if "--db" not in args:
        args += ["--db", str(db)]
    proc = run_cli(args, tmp_path)
    line = _one_line_error(proc, "PostgreSQL", "SQLite is for one process")
    assert not db.exists(), line  # nothing written, not even an empty file


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["worker"], ["dispatch"], ["simulate", "--accounts", "2", "--days", "1"]])
def test_an_unreachable_broker_is_one_line(tmp_path: Path, pg: str, command: list[str]) -> None:
    before = _rows(pg)
    proc = invoke_cli([*command, "--db", pg, "--broker", DEAD_BROKER], tmp_path)
    _one_line_error(proc, "broker amqp://guest:**@127.0.0.1:1//", "unreachable")
    assert _rows(pg) == before


@pytest.mark.postgres
def test_a_broker_url_of_no_known_kind_is_one_line(tmp_path: Path, pg: str) -> None:
    proc = invoke_cli(["worker", "--db", pg, "--broker", "nosuch://x"], tmp_path)
    _one_line_error(proc, "broker", "unreachable")


@pytest.mark.postgres
def test_simulate_accounts_without_a_worker_writes_nothing(tmp_path: Path, pg: str, rabbitmq: str) -> None:
    before = _rows(pg)
    proc = invoke_cli(simulate_args(pg, rabbitmq, 2, 1), tmp_path)
    _one_line_error(proc, "no worker consumes queue", "--workers N")
    assert _rows(pg) == before


@pytest.mark.postgres
def test_simulate_accounts_refuses_resume_and_truth(tmp_path: Path, pg: str, rabbitmq: str) -> None:
    for extra in (["--resume"], ["--truth", str(tmp_path / "t.json")]):
        proc = invoke_cli([*simulate_args(pg, rabbitmq, 2, 1), *extra], tmp_path)
        _one_line_error(proc, "--accounts", "for one account")
    assert _rows(pg) == (0, 0, 0)


@pytest.mark.postgres
def test_an_existing_multi_account_simulation_is_not_overwritten(tmp_path: Path, pg: str, rabbitmq: str) -> None:
    from growthloop.adapters.store.store import SqlStore
    from growthloop.config import load_settings
    from growthloop.distributed.coordinator import account_names, prepare
    from growthloop.errors import UsageError
    from growthloop.simulation import plan_simulation

    from ..conftest import START

    url = pg.replace("postgresql://", "postgresql+psycopg://", 1)
    store = SqlStore(url)
    settings = load_settings(None, database_url=url)
    prepare(store, settings, plan_simulation(None, 1, 1, START), account_names("sim", 2))
    before = _rows(pg)
    with pytest.raises(UsageError, match="already holds an account named 'sim001' and 1 more"):
        prepare(store, settings, plan_simulation(None, 1, 1, START), account_names("sim", 3))
    assert _rows(pg) == before
    store.dispose()


def test_bad_numbers_are_refused(tmp_path: Path) -> None:
    proc = invoke_cli(["simulate", "--accounts", "-1"], tmp_path)
    _one_line_error(proc, "--accounts")
    proc = invoke_cli(["simulate", "--accounts", "2", "--workers", "65"], tmp_path)
    _one_line_error(proc, "--workers")
