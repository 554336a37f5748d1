"""Fixtures of the distributed engine's tests: a real broker (RabbitMQ, Redis), a fresh PostgreSQL database,
local `growthloop worker` processes, and the invariants of the single-account loop checked per account.

Off CI a test whose broker is unreachable is skipped with the reason; with CI=true it fails (`.ci/run` starts
RabbitMQ, Redis and PostgreSQL through scripts/services).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select

from growthloop.adapters.store.tables import content_metadata, job_runs, post_attempts, sim_posts
from growthloop.distributed.celery_app import broker_problem, queue_name

from ..e2e.conftest import POSTS_PER_HOUR, REPLIES_PER_HOUR, cli_env, growthloop_cmd, max_in_closed_hour

RABBITMQ = os.environ.get("GROWTHLOOP_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
REDIS = os.environ.get("GROWTHLOOP_TEST_REDIS_BROKER", "redis://127.0.0.1:6379/5")
SIM_START = "2026-03-02T00:00:00+00:00"


def _need(url: str) -> str:
    problem = broker_problem(url)
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the broker {url} is unreachable: {problem}")
        pytest.skip(f"broker {url} unreachable ({problem}); it is required when CI=true")
    return url


@pytest.fixture(scope="session")
def rabbitmq() -> str:
    return _need(RABBITMQ)


@pytest.fixture(scope="session")
def redis_broker() -> str:
    return _need(REDIS)


def plain_url(engine_url: str) -> str:
    """The conftest's SQLAlchemy URL as a user types it."""
    return engine_url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def pg(pg_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (as `growthloop init` leaves it), dropped afterwards."""
    from growthloop.adapters.store.store import SqlStore

    store = SqlStore(pg_url)
    store.upgrade()
    store.dispose()
    yield plain_url(pg_url)


@dataclass
class Workers:
    """Local `growthloop worker` processes on one database and broker; killed or stopped at the end."""

    db: str
    broker: str
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0

    def start(self, n: int = 1) -> list[subprocess.Popen[bytes]]:
        new = []
        for _ in range(n):
            self.started += 1
            log = open(self.logs / f"worker-{self.started}.log", "wb")  # noqa: SIM115 - the process writes to it
            p = subprocess.Popen(
                [
                    *growthloop_cmd(),
                    "worker",
                    "--db",
                    self.db,
                    "--broker",
                    self.broker,
                    "--name",
                    f"t{self.started}@%h",
                ],
                env=cli_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.procs.append(p)
            new.append(p)
        return new

    def ready(self, n: int, timeout: float = 120) -> None:
        """Wait until `n` workers consume the database's queue (a worker takes seconds to start)."""
        from growthloop.distributed.celery_app import configure
        from growthloop.distributed.local import wait_for_workers

        q = queue_name(self.db)
        configure(self.broker, q)
        seen = wait_for_workers(q, n, timeout)
        assert seen >= n, f"{seen} of {n} workers came up\n{self.log_tail()}"

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        for p in self.live():
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {f.name}\n{f.read_text(errors='replace')[-1500:]}" for f in sorted(self.logs.glob("*.log"))
        )


def _purge(broker: str, db: str) -> None:
    """Remove the test database's queue from the broker (its name is derived from the database)."""
    from kombu import Connection

    try:
        with Connection(broker, connect_timeout=3) as conn:
            conn.default_channel.queue_delete(queue_name(db))
    except Exception:  # noqa: BLE001 - best effort: a leftover empty queue harms nothing
        pass


@pytest.fixture
def workers_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Workers] = []

    def make(db: str, broker: str) -> Workers:
        logs = tmp_path / f"workers-{len(made)}"
        logs.mkdir()
        w = Workers(db, broker, logs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()
        _purge(w.broker, w.db)


def engine_for(db: str) -> Engine:
    return create_engine(db.replace("postgresql://", "postgresql+psycopg://", 1))


def simulate_args(db: str, broker: str, accounts: int, days: float, workers: int = 0) -> list[str]:
    return [
        "simulate", "--accounts", str(accounts), "--days", str(days), "--start", SIM_START, "--db", db,
        "--broker", broker, "--workers", str(workers), "--json",
    ]  # fmt: skip


def check_invariants(db: str, names: Sequence[str], queued_seen: set[str] | None = None) -> dict[str, Any]:
    """The single-account loop's invariants, per account: no post published twice, none lost, our record and
    the platform's agree, no run left `running`, no run failed but by a kill, the rolling-hour limits held."""
    engine = engine_for(db)
    cm = content_metadata
    facts: dict[str, Any] = {"published": 0, "interrupted": 0, "runs": 0}
    try:
        with engine.connect() as conn:
            running = conn.execute(select(func.count()).select_from(job_runs).where(job_runs.c.status == "running"))
            assert running.scalar_one() == 0, "runs left running"
            for name in names:
                published = conn.execute(
                    select(sim_posts.c.request_key, sim_posts.c.platform_id, sim_posts.c.text).where(
                        sim_posts.c.account == name
                    )
                ).all()
                rows = conn.execute(
                    select(cm.c.decision_id, cm.c.kind, cm.c.status, cm.c.tweet_id, cm.c.posted_at).where(
                        cm.c.account == name
                    )
                ).all()
                runs = conn.execute(select(job_runs).where(job_runs.c.account == name)).all()
                attempts = conn.execute(select(post_attempts).where(post_attempts.c.account == name)).all()
                keys = [p.request_key for p in published]
                assert keys, f"{name}: nothing published"
                assert len(keys) == len(set(keys)), f"{name}: a decision published twice"
                assert len({p.text for p in published}) == len(keys), f"{name}: a text published twice"
                posted = {r.decision_id: r for r in rows if r.status == "posted"}
                assert set(posted) == set(keys), f"{name}: our record and the platform's differ"
                assert all(posted[p.request_key].tweet_id == p.platform_id for p in published), name
                assert not [r for r in rows if r.status == "posting"], f"{name}: rows left in 'posting'"
                refused = {a.decision_id for a in attempts if "duplicate" in (a.error or "")}
                assert not refused & set(posted), f"{name}: a posted decision was sent again"
                for kind, limit in (("post", POSTS_PER_HOUR), ("reply", REPLIES_PER_HOUR)):
                    worst = max_in_closed_hour([r.posted_at for r in posted.values() if r.kind == kind])
                    assert worst <= limit, f"{name}: {worst} {kind}s within one hour"
                bad = [
                    (r.job, r.status, r.error)
                    for r in runs
                    if r.status != "succeeded"
                    and not (r.status == "failed" and (r.error or "").startswith("interrupted"))
                ]
                assert not bad, f"{name}: runs failed other than by a kill: {bad[:5]}"
                if queued_seen is not None:
                    status = {r.decision_id: r.status for r in rows}
                    lost = {
                        d: status.get(d) for d in queued_seen if d in status and status[d] not in ("posted", "queued")
                    }
                    assert not lost, f"{name}: queued posts lost: {lost}"
                facts["published"] += len(keys)
                facts["runs"] += len(runs)
                facts["interrupted"] += sum(
                    1 for r in runs if r.attempt > 1 or (r.error or "").startswith("interrupted")
                )
    finally:
        engine.dispose()
    return facts
