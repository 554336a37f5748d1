"""Workers killed with SIGKILL at random moments, at least 10 times, during a multi-account simulation: the broker
gives each killed worker's unacknowledged message to another worker, which takes the cut-off run over under the
account's lease. After the run: no post published twice, no queued post lost, no run left `running`, every
account's rolling-hour limits held, and our record and the simulated platform's agree.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from typing import Any

import pytest
from sqlalchemy import select

from growthloop.adapters.store.tables import content_metadata

from ..e2e.conftest import cli_env, growthloop_cmd
from .conftest import check_invariants, engine_for, simulate_args

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SEED = int(os.environ.get("GROWTHLOOP_WORKER_KILL_SEED", "20261206"))
MIN_KILLS = 10
ACCOUNTS, DAYS = 3, 1.0
BETWEEN_KILLS_S = (0.5, 3.0)
BUDGET_S = 420.0


def _queued(db: str) -> set[str]:
    engine = engine_for(db)
    try:
        with engine.connect() as conn:
            q = select(content_metadata.c.decision_id).where(content_metadata.c.status == "queued")
            return set(conn.execute(q).scalars())
    finally:
        engine.dispose()


def test_workers_killed_at_random_moments_lose_and_double_nothing(
    tmp_path: Any, pg: str, rabbitmq: str, workers_factory: Any
) -> None:
    rng = random.Random(SEED)
    workers = workers_factory(pg, rabbitmq)
    workers.start(2)
    out, err = open(tmp_path / "sim.out", "wb"), open(tmp_path / "sim.err", "wb")
    sim = subprocess.Popen(
        [*growthloop_cmd(), *simulate_args(pg, rabbitmq, ACCOUNTS, DAYS)],
        env=cli_env(),
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    kills, queued_seen, log = 0, set(), []
    t0 = time.monotonic()
    try:
        time.sleep(8)  # the simulation registers its accounts and starts dispatching
        while sim.poll() is None and time.monotonic() - t0 < BUDGET_S:
            time.sleep(rng.uniform(*BETWEEN_KILLS_S))
            live = workers.live()
            if sim.poll() is not None or not live:
                break
            victim = rng.choice(live)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            kills += 1
            queued_seen |= _queued(pg)
            log.append(f"kill {kills} at {time.monotonic() - t0:.1f} s: pid {victim.pid}")
            workers.start(1)  # a supervisor's restart; the other worker goes on meanwhile
        sim.wait(timeout=max(60.0, BUDGET_S - (time.monotonic() - t0)))
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
        out.close()
        err.close()
    stderr = (tmp_path / "sim.err").read_text(errors="replace")
    assert sim.returncode == 0, f"simulate exit {sim.returncode}: {stderr[-2000:]} {log}\n{workers.log_tail()}"
    assert kills >= MIN_KILLS, f"the simulation ended after only {kills} kills (seed {SEED}): {log}"
    names = [f"sim{i:03d}" for i in range(1, ACCOUNTS + 1)]
    facts = check_invariants(pg, names, queued_seen | _queued(pg))
    assert facts["interrupted"] >= 1, f"no kill cut a run off (seed {SEED}): {log}"
    print(f"\nseed {SEED}: {kills} kills, {facts['interrupted']} runs taken over, {facts['published']} published")
