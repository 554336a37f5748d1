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
from growthloop.config import load_settings
from growthloop.domain import JobResult
from growthloop.jobs import registry
from growthloop.learning import AttributionFit
from growthloop.loop.history import FIT_STATE, LearningCache, stored_model, stored_state
from growthloop.loop.learn import compute_stats, fit_model, read_facts
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
    # the spend metering, which every wiring builds, prices a link only when a text may hold one
    assert _imported("growthloop.adapters.platforms.metered", ("twitter_text",)) == []


def test_learn_reads_a_final_figure_once(simulated: Callable[[float], Loop]) -> None:
    """Final attributed figures are never written again: learn keeps them on the wiring's cache and reads
    only the figures still moving, with the same facts as a read of everything."""
    loop = simulated(48)
    pa = post_attribution
    with loop.store.begin() as conn:  # the first day's figures final, as attribute leaves them once settled
        conn.execute(update(pa).where(pa.c.posted_at < START + timedelta(hours=24)).values(final=True))
        finals = set(conn.execute(select(pa.c.decision_id).where(pa.c.final.is_(True))).scalars())
    assert finals
    now, cache, bound = loop.clock.now(), LearningCache(), []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM post_attribution" in statement:
            bound.extend(parameters)

    def traced(statement: str) -> None:  # the prepared statements go to the driver: its trace sees them
        if "FROM post_attribution" in statement:
            read.append(statement)

    read: list[str] = []

    with loop.store.connect() as conn:
        read_facts(loop.wiring.records, conn, "default", loop.settings, now, cache=cache)
        event.listen(loop.store.engine, "before_cursor_execute", count)
        conn.connection.dbapi_connection.set_trace_callback(traced)  # type: ignore[union-attr]
        again = read_facts(loop.wiring.records, conn, "default", loop.settings, now, cache=cache)
        conn.connection.dbapi_connection.set_trace_callback(None)  # type: ignore[union-attr]
        event.remove(loop.store.engine, "before_cursor_execute", count)
        everything = read_facts(loop.wiring.records, conn, "default", loop.settings, now)
    # the final ones are not asked for again: the moving ones are read as a range of the newest posts
    assert read and not finals & set(bound), (read, bound)
    assert all("posted_at >=" in s for s in read), read
    assert again.as_of == everything.as_of
    assert np.array_equal(again.attributed, everything.attributed, equal_nan=True)
    assert np.array_equal(again.attributed_sd, everything.attributed_sd, equal_nan=True)


def test_a_kept_history_is_a_fresh_read(store: SqlStore) -> None:
    """A process that kept its history, its figures and the fits between runs (the wiring's cache, extended
    run by run) learns what a process starting afresh reads from the database: the same posts, design,
    counters (every snapshot of the posts settled since they were read too), figures, and the same model.
    Checkpoints up to 2 h, so that posts settle within the test's day and a half."""
    settings = load_settings(None, database_url=store.url, seed=7, checkpoints=["15m", "1h", "2h"])
    loop = Loop(store, settings)
    loop.run_for(36)  # learn and attribute run every two hours, each run extending the cache by what is new
    w = loop.wiring
    cache, now = w.learning, loop.clock.now()
    assert cache.histories and cache.final_figures
    with loop.store.connect() as conn:
        kept = read_facts(w.records, conn, w.account, w.settings, now, cache=cache)
        fresh = read_facts(w.records, conn, w.account, w.settings, now)
        conversion = stored_state(loop.store, conn, w.account, FIT_STATE, AttributionFit.from_dict)
        previous, _ = stored_model(loop.store, conn, w.account, w.settings, cache)
    loop.scheduler.close()
    assert conversion is not None and previous is not None
    a, b = kept.history, fresh.history
    assert len(a) > 50 and a.decision_ids == b.decision_ids and a.rows == b.rows and a.kinds == b.kinds
    assert np.array_equal(a.times, b.times) and np.array_equal(a.design, b.design)
    assert np.array_equal(a.is_post, b.is_post) and a.given == b.given
    assert np.array_equal(a.counters, b.counters, equal_nan=True)
    assert np.array_equal(kept.attributed, fresh.attributed, equal_nan=True) and kept.as_of == fresh.as_of
    assert np.array_equal(kept.attributed_sd, fresh.attributed_sd, equal_nan=True)
    assert np.array_equal(kept.observed().completeness, fresh.observed().completeness)
    one = fit_model(kept, conversion, w.settings, previous)
    two = fit_model(fresh, conversion, w.settings, previous)
    assert np.array_equal(one.posterior.mean, two.posterior.mean)
    assert np.array_equal(one.posterior.cov, two.posterior.cov)
    assert compute_stats(kept, one) == compute_stats(fresh, two) == _stats_by_value(fresh, two)


def _stats_by_value(facts: Any, model: Any) -> list[Any]:
    """The performance rows as learn first computed them (each value's posts found by its name, np.nanmean):
    `compute_stats` finds them by the design's columns and sums without the copies, to the same floats."""
    from growthloop.domain import ValueStats

    h = facts.history
    posts = (np.array(h.kinds) == "post") & np.isfinite(facts.attributed)
    observed = h.observed()
    impressions, engaged = observed.counter("impressions"), observed.counter("engagements")
    out = []
    for dim, effects in model.value_effects().items():
        values = np.array([r[dim] for r in h.rows], dtype=object)
        for e in effects:
            mask = posts & (values == e.value)
            y = facts.attributed[mask]
            imp = impressions[mask] if impressions is not None else np.array([])
            eng = engaged[mask] if engaged is not None else np.array([])
            seen = np.isfinite(imp) & np.isfinite(eng) if len(imp) and len(eng) else np.array([], dtype=bool)
            rate = float(eng[seen].sum() / imp[seen].sum()) if seen.any() and imp[seen].sum() > 0 else None
            out.append(
                ValueStats(
                    dimension=dim,
                    value=e.value,
                    uses=int(mask.sum()),
                    avg_impressions=float(np.nanmean(imp)) if np.isfinite(imp).any() else None,
                    avg_engagement_rate=rate,
                    avg_followers=float(y.mean()) if len(y) else None,
                    total_followers=float(y.sum()),
                    posterior_mean=e.expected_follows,
                    ci_low=e.ci_low,
                    ci_high=e.ci_high,
                    confidence=e.confidence,
                )
            )
    return out
