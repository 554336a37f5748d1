"""The fast loop keeps the database the truth: one connection per job run with its ledger row committed
before the job starts, and the simulator's memory of what it wrote checked against the database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, event, func, select, text, update

from growthloop.adapters.store.records.plan import _SAME_TEXT
from growthloop.adapters.store.store import SqlStore, make_engine
from growthloop.adapters.store.tables import app_state, job_runs, post_attribution, sim_follower_events
from growthloop.domain import JobResult
from growthloop.jobs import registry
from growthloop.loop.history import LearningCache
from growthloop.loop.learn import read_facts
from tests.conftest import START, Loop


@pytest.fixture
def other(store: SqlStore) -> Iterator[Engine]:
    """Another process's view of the same database."""
    engine = make_engine(store.url)
    yield engine
    engine.dispose()


def _rows(engine: Engine, job: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(job_runs).where(job_runs.c.job == job)))


def _write_state(store: SqlStore, key: str) -> None:
    with store.begin() as conn:
        store.set_state(conn, "default", key, 1)


def test_the_ledger_row_is_committed_before_the_job_starts(
    loop: Loop, other: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, list[Any]] = {}

    def job(store: SqlStore, *_args: object) -> JobResult:
        seen["before"] = _rows(other, "followers")  # a kill here leaves the row running, reaped as interrupted
        _write_state(store, "first")
        _write_state(store, "second")
        return JobResult(1, 1)

    monkeypatch.setitem(registry.JOBS, "followers", job)
    outcome = loop.scheduler.runner.run("followers", START)
    assert outcome.status == "succeeded"
    assert [(r.status, r.attempt) for r in seen["before"]] == [("running", 1)]
    (row,) = _rows(other, "followers")
    assert (row.status, row.items_out, row.finished_at) == ("succeeded", 1, START)
    with other.connect() as conn:
        assert len(conn.execute(select(app_state).where(app_state.c.key.in_(["first", "second"]))).all()) == 2


def test_a_run_that_writes_nothing_is_recorded_once_finished(loop: Loop, other: Engine) -> None:
    loop.clock.sleep_until(START + timedelta(minutes=1))  # no post is due: the post job only reads
    outcome = loop.scheduler.runner.run("post", START)
    (row,) = _rows(other, "post")
    assert (outcome.status, row.status, row.attempt, row.items_out) == ("succeeded", "succeeded", 1, 0)


def test_a_job_run_checks_out_one_connection(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    checkouts: list[object] = []
    event.listen(loop.store.engine, "checkout", lambda *a: checkouts.append(a))

    def job(store: SqlStore, *_args: object) -> JobResult:
        for key in ("a", "b", "c"):
            with store.connect() as conn:
                conn.execute(select(app_state)).all()
            _write_state(store, key)
        return JobResult(3, 3)

    monkeypatch.setitem(registry.JOBS, "followers", job)
    loop.scheduler.runner.run("followers", START)
    # the run's ledger row, its reads and transactions, and its outcome: all on one connection
    assert len(checkouts) == 1


def test_the_simulators_follower_count_is_the_databases(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(30)
    other = make_engine(loop.store.url)

    def summed(at: Any) -> int:
        with other.connect() as conn:
            fe = sim_follower_events
            total = conn.execute(select(func.coalesce(func.sum(fe.c.delta), 0)).where(fe.c.at <= at)).scalar_one()
        return loop.world.initial_followers + int(total)

    now = loop.clock.now()
    assert loop.platform.follower_count(now) == summed(now)
    # a follow written by another process (say `jobs run` beside `run`) is counted too
    with other.begin() as conn:
        conn.execute(sim_follower_events.insert().values(account="default", at=now, delta=5, cause="test"))
    assert loop.platform.follower_count(now) == summed(now)
    # and an earlier time (a resumed clock) is summed from the database
    assert loop.platform.follower_count(now - timedelta(hours=20)) == summed(now - timedelta(hours=20))
    other.dispose()


def test_the_exact_duplicate_look_up_walks_the_content_sha_index(loop: Loop) -> None:
    if loop.store.dialect != "sqlite":
        pytest.skip("SQLite's query plan; PostgreSQL plans by its statistics")
    compiled = _SAME_TEXT.compile(loop.store.engine)
    with loop.store.connect() as conn:
        plan = " ".join(
            str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", ("default", "0" * 64)).all()
        )
    assert "ix_content_metadata_account_content_sha" in plan, plan


def test_sqlite_runs_in_wal_mode(store: SqlStore) -> None:
    if store.dialect != "sqlite":
        pytest.skip("a SQLite setting")
    with store.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


HEAVY = (
    "scipy", "twitter_text", "xdk", "openai", "atproto", "atproto_client", "mastodon", "plotly", "starlette",
    "requests", "confusable_homoglyphs", "celery", "alembic",
)  # fmt: skip


def _imported(module: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` importing `module` imports, in a fresh interpreter."""
    code = f"import sys, {module}; print(' '.join(n for n in {names!r} if n in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return out.split()


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """`growthloop --help` imports the command line only: scipy, twitter-text and the platforms' SDKs are
    imported where they are used (and the configuration, which every command reads, needs no numpy); Alembic
    only to migrate (the schema check compares with the revisions known at build time)."""
    assert _imported("growthloop.cli.app", HEAVY) == []
    assert _imported("growthloop.config", ("numpy", "scipy")) == []
    assert _imported("growthloop.loop.gate", ("twitter_text",)) == []


def test_learn_reads_a_final_figure_once(simulated: Callable[[float], Loop]) -> None:
    """Final attributed figures are never written again: learn keeps them on the wiring's cache and reads
    only the figures still moving, with the same facts as a read of everything."""
    loop = simulated(48)
    pa = post_attribution
    with loop.store.begin() as conn:  # the first day's figures final, as attribute leaves them once settled
        conn.execute(update(pa).where(pa.c.posted_at < START + timedelta(hours=24)).values(final=True))
        finals = conn.execute(select(func.count()).where(pa.c.final.is_(True))).scalar_one()
    assert finals > 0
    now, cache, bound = loop.clock.now(), LearningCache(), []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM post_attribution" in statement:
            bound.append(len(parameters))

    with loop.store.connect() as conn:
        read_facts(loop.wiring.records, conn, "default", loop.settings, now, cache=cache)
        event.listen(loop.store.engine, "before_cursor_execute", count)
        again = read_facts(loop.wiring.records, conn, "default", loop.settings, now, cache=cache)
        event.remove(loop.store.engine, "before_cursor_execute", count)
        everything = read_facts(loop.wiring.records, conn, "default", loop.settings, now)
    assert sum(bound) == len(everything.history) - finals  # the final ones are not read again
    assert again.as_of == everything.as_of
    assert np.array_equal(again.attributed, everything.attributed, equal_nan=True)
    assert np.array_equal(again.attributed_sd, everything.attributed_sd, equal_nan=True)
