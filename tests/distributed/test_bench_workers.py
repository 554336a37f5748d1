"""`growthloop bench-workers` (distributed/benchmark.py): a small run's figures, and its bad input refused in one
line with nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import PG_ADMIN_URL

from ..e2e.conftest import describe, run_cli
from .conftest import SIM_START, engine_for
from .test_bad_input import DEAD_BROKER, _one_line_error

pytestmark = pytest.mark.postgres  # each test looks at the server's databases


def _bench_databases() -> set[str]:
    engine = engine_for(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            found = conn.execute(text("select datname from pg_database where datname like 'growthloop_bench_%'"))
            return {str(name) for name in found.scalars()}
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--server", "sqlite:///bench.db"], ["--server must be a PostgreSQL URL"]),
        (["--server", "::not a url::"], ["--server: not a database URL"]),
        (["--workers", "0"], ["--workers: from 1 to 64"]),
        (["--broker", DEAD_BROKER], ["broker amqp://guest:**@127.0.0.1:1//", "unreachable"]),
    ],
)
def test_bad_input_is_one_line_and_makes_no_database(tmp_path: Path, args: list[str], words: list[str]) -> None:
    before = _bench_databases()
    proc = run_cli(["bench-workers", "--accounts", "1", "--days", "0.05", *args], tmp_path)
    _one_line_error(proc, *words)
    assert _bench_databases() == before
    assert not (tmp_path / "bench.db").exists()


def test_a_small_run_reports_its_figures_and_drops_its_database(tmp_path: Path, rabbitmq: str) -> None:
    before = _bench_databases()
    args = ["bench-workers", "--accounts", "2", "--days", "0.1", "--workers", "1", "--start", SIM_START]
    args += ["--vacuum-every", "1"]
    proc = run_cli([*args, "--server", PG_ADMIN_URL, "--broker", rabbitmq, "--json"], tmp_path, timeout=300)
    assert proc.returncode == 0, describe(proc)
    result = json.loads(proc.stdout)
    (run,) = result["runs"]
    assert (result["accounts"], run["workers"]) == (2, 1)
    assert run["job_runs"] > 0 and run["job_runs_per_second"] > 0
    assert run["runs_left_running"] == 0
    assert run["p95_delay_ms"] is not None and run["p95_delay_ms"] >= run["p50_delay_ms"] >= 0
    assert run["peak_pg_connections"] >= 1 and run["peak_worker_rss_mb"] > 0
    assert 0 < run["busy_in_jobs"] <= run["busy_in_messages"] <= 1 and run["messages"] > 0
    # autovacuum, or its stand-in where the server runs without it (as this project's CI machines do)
    vacuum = run["vacuum"]
    assert vacuum["server_autovacuum"] or vacuum["stand_in_runs"] >= 1, vacuum
    assert _bench_databases() == before  # the fresh database of the run is dropped
