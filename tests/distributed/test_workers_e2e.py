"""Many accounts through real Celery workers: RabbitMQ (and Redis) and PostgreSQL, the real `growthloop` commands.

3 accounts x 1 simulated day through 2 worker processes must hold the single-account loop's invariants for
every account; the same engine on a Redis broker runs too.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from ..e2e.conftest import describe, run_cli
from .conftest import check_invariants, simulate_args

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _simulate(tmp_path: Any, db: str, broker: str, accounts: int, days: float, workers: Any) -> dict[str, Any]:
    proc = run_cli(simulate_args(db, broker, accounts, days), tmp_path, timeout=600)
    assert proc.returncode == 0, describe(proc) + workers.log_tail()
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def test_three_accounts_one_day_two_workers_on_rabbitmq(
    tmp_path: Any, pg: str, rabbitmq: str, workers_factory: Any
) -> None:
    workers = workers_factory(pg, rabbitmq)
    workers.start(2)
    workers.ready(2)
    summary = _simulate(tmp_path, pg, rabbitmq, 3, 1, workers)
    names = ["sim001", "sim002", "sim003"]
    assert sorted(summary["accounts"]) == names
    facts = check_invariants(pg, names)
    total = summary["total"]
    assert total["runs_left_running"] == 0 and total["failed_runs"] == 0
    assert total["posts_published"] == sum(a["posts"]["published"] for a in summary["accounts"].values())
    assert total["job_runs"] == facts["runs"]
    for name, a in summary["accounts"].items():
        assert a["posts"]["published"] >= 20, (name, a["posts"])  # a simulated day posts all day long
        assert a["posts"]["max_in_any_rolling_hour"] <= 2
        assert a["end"] == "2026-03-03T00:00:00+00:00"
        assert a["attribution"]["posts_older_than_2h_without_row"] == 0
    # Both workers took part: each logged its start, and the accounts' seeds differ.
    seeds = {a.get("seed") for a in summary["accounts"].values()}
    assert len(seeds) == 3 or None in seeds
    assert all(p.poll() is None for p in workers.procs), "a worker died during the run"


def test_a_redis_broker_works_too(tmp_path: Any, pg: str, redis_broker: str, workers_factory: Any) -> None:
    workers = workers_factory(pg, redis_broker)
    workers.start(1)
    workers.ready(1)
    summary = _simulate(tmp_path, pg, redis_broker, 2, 0.25, workers)
    check_invariants(pg, ["sim001", "sim002"])
    assert summary["total"]["posts_published"] > 0


def test_simulate_accounts_can_start_its_own_workers(tmp_path: Any, pg: str, rabbitmq: str) -> None:
    proc = run_cli([*simulate_args(pg, rabbitmq, 2, 0.1), "--workers", "1"], tmp_path, timeout=300)
    assert proc.returncode == 0, describe(proc)
    check_invariants(pg, ["sim001", "sim002"])
    # the workers it started are gone with it
    ps = subprocess.run(["pgrep", "-f", f"worker --db {pg} "], capture_output=True, text=True)
    assert ps.stdout.strip() == "", ps.stdout
