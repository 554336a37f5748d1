"""Workers killed with SIGKILL at random moments, at least 10 times, during a multi-account simulation: the broker
gives each killed worker's unacknowledged message to another worker, which takes the cut-off run over under the
account's lease. After the run: no post published twice, no queued post lost, no run left `running`, every
account's rolling-hour limits held, and our record and the simulated platform's agree.

On RabbitMQ a killed worker's message goes back to the queue when its connection drops. On Redis it stays
taken until the visibility timeout (120 s): the coordinator publishes a tick's unfinished slots again after
`republish_after` seconds without progress (60 by default, 10 here: the Redis test's three kills cost about
10 s each, not a minute, and republishing while the first message may still be running is what it checks).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from growthloop.adapters.store.tables import content_metadata, job_runs

from ..e2e.conftest import cli_env, growthloop_cmd
from .conftest import check_invariants, engine_for, simulate_args

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SEED = int(os.environ.get("GROWTHLOOP_WORKER_KILL_SEED", "20261206"))
MIN_KILLS = 10
ACCOUNTS = 3
# Kills come about every 2 s (a restarted worker is eligible after UP_S): 1.5 days ran out after 8 kills in 20 s
# once the workers took a tick's accounts in batches on a quiet machine, so the run is twice that long.
DAYS = 3.0
MAX_KILLS = 11
REDIS_KILLS = 3
REDIS_DAYS = 1.0
REPUBLISH_AFTER_S = "10"
AT_WORK_S = (0.0, 1.5)  # after new runs appeared since the last kill
UP_S = 4.0  # a worker this long up has connected and taken messages
BUDGET_S = 480.0


def _queued(db: str) -> set[str]:
    engine = engine_for(db)
    try:
        with engine.connect() as conn:
            q = select(content_metadata.c.decision_id).where(content_metadata.c.status == "queued")
            return set(conn.execute(q).scalars())
    finally:
        engine.dispose()


def _runs(db: str) -> int:
    engine = engine_for(db)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(job_runs)).scalar_one())
    finally:
        engine.dispose()


def _a_run_running(db: str, within_s: float = 3.0) -> bool:
    """Whether a run is in progress, looked for over `within_s` seconds (a run lasts milliseconds)."""
    engine = engine_for(db)
    deadline = time.monotonic() + within_s
    try:
        with engine.connect() as conn:
            q = select(func.count()).select_from(job_runs).where(job_runs.c.status == "running")
            while time.monotonic() < deadline:
                if int(conn.execute(q).scalar_one()) > 0:
                    return True
                conn.rollback()  # a fresh snapshot for the next look
                time.sleep(0.005)
    finally:
        engine.dispose()
    return False


def test_workers_killed_at_random_moments_lose_and_double_nothing(
    tmp_path: Any, pg: str, rabbitmq: str, workers_factory: Any
) -> None:
    _kill_during_simulation(tmp_path, pg, rabbitmq, workers_factory, MIN_KILLS, MAX_KILLS, DAYS)


def test_workers_killed_on_a_redis_broker_lose_and_double_nothing(
    tmp_path: Any, pg: str, redis_broker: str, workers_factory: Any
) -> None:
    # each kill waits out the coordinator's stall (REPUBLISH_AFTER_S) before the tick's slot is published again.
    # Three kills are few, and a worker between two messages has no run to cut off: each kill here waits for a
    # run in progress and kills every worker, so the one running it is among them. A whole day: half a day
    # ended after 2 kills once a worker no longer waited up to 1 s between two messages.
    _kill_during_simulation(
        tmp_path, pg, redis_broker, workers_factory, REDIS_KILLS, REDIS_KILLS, REDIS_DAYS, at_a_running_run=True
    )


def _kill_during_simulation(
    tmp_path: Any,
    pg: str,
    broker: str,
    workers_factory: Any,
    min_kills: int,
    max_kills: int,
    days: float,
    at_a_running_run: bool = False,
) -> None:
    rng = random.Random(SEED)
    workers = workers_factory(pg, broker)
    workers.start(2)
    workers.ready(2)
    out, err = open(tmp_path / "sim.out", "wb"), open(tmp_path / "sim.err", "wb")
    sim = subprocess.Popen(
        [*growthloop_cmd(), *simulate_args(pg, broker, ACCOUNTS, days)],
        env=cli_env({"GROWTHLOOP_REPUBLISH_AFTER": REPUBLISH_AFTER_S}),
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    kills, queued_seen, log = 0, set(), []
    born: dict[int, float] = {p.pid: time.monotonic() for p in workers.procs}
    t0 = time.monotonic()
    try:
        runs_at_kill = 0
        while sim.poll() is None and kills < max_kills and time.monotonic() - t0 < BUDGET_S:
            # Kill while the workers are at work: after new runs since the last kill, at a random moment,
            # a worker that has been up long enough to have taken a message.
            if _runs(pg) <= runs_at_kill:
                time.sleep(0.1)
                continue
            time.sleep(rng.uniform(*AT_WORK_S))
            up = [p for p in workers.live() if time.monotonic() - born[p.pid] >= UP_S]
            if sim.poll() is not None or not up:
                continue
            if at_a_running_run and not _a_run_running(pg):
                continue
            victims = up if at_a_running_run else [rng.choice(up)]
            for victim in victims:
                os.kill(victim.pid, signal.SIGKILL)
            for victim in victims:
                victim.wait(timeout=10)
            kills += 1
            runs_at_kill = _runs(pg)
            queued_seen |= _queued(pg)
            log.append(f"kill {kills} of {len(victims)} at {time.monotonic() - t0:.1f} s ({runs_at_kill} runs)")
            born.update({p.pid: time.monotonic() for p in workers.start(len(victims))})  # a supervisor's restart
        sim.wait(timeout=max(60.0, BUDGET_S - (time.monotonic() - t0)))
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
        out.close()
        err.close()
    stderr = (tmp_path / "sim.err").read_text(errors="replace")
    assert sim.returncode == 0, f"simulate exit {sim.returncode}: {stderr[-2000:]} {log}\n{workers.log_tail()}"
    assert kills >= min_kills, f"the simulation ended after only {kills} kills (seed {SEED}): {log}"
    names = [f"sim{i:03d}" for i in range(1, ACCOUNTS + 1)]
    facts = check_invariants(pg, names, queued_seen | _queued(pg))
    assert facts["interrupted"] >= 1, f"no kill cut a run off (seed {SEED}): {log}"
    taken_over, published = facts["interrupted"], facts["published"]
    print(f"\n{broker.split(':')[0]}, seed {SEED}: {kills} kills, {taken_over} runs taken over, {published} published")
