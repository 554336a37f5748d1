"""The faster loop asks less and commits less, and still leaves the database the truth: a tick's runs share
their commits (a run's outcome goes with the next run's claim) yet none is left running, and the attribution
job's look-up of pending posts from its watermark finds what the full look-up finds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from growthloop.adapters.platforms.sim import platform as sim
from growthloop.adapters.store.records import history, plan
from growthloop.adapters.store.records.attribute import _PENDING, _PENDING_SINCE
from growthloop.adapters.store.records.history import _POSTED_COUNT
from growthloop.adapters.store.tables import job_runs
from growthloop.domain import JobResult
from growthloop.jobs import registry
from growthloop.loop.attribute import LOOK_BACK, attribute_growth
from growthloop.loop.history import LearningCache
from tests.conftest import START, Loop


def test_a_ticks_runs_share_their_commits_and_none_is_left_running(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in registry.JOBS:  # jobs that write nothing: only the ledger commits
        monkeypatch.setitem(registry.JOBS, name, lambda *_a: JobResult(0, 0))
    commits: list[object] = []
    event.listen(loop.store.engine, "commit", lambda *a: commits.append(a))
    outcomes = loop.scheduler.tick()  # every job is due at the start
    runs = len(registry.JOBS)
    assert [o.status for o in outcomes] == ["succeeded"] * runs
    # one commit a claim (with the outcome of the run before it) and one for the last outcome (two a run
    # before: the claim, then the outcome); the reaping of runs a killed process left only reads when none is
    assert len(commits) == runs + 1
    with loop.store.connect() as conn:
        rows = conn.execute(select(job_runs.c.status, job_runs.c.finished_at)).all()
    assert len(rows) == runs and all(r.status == "succeeded" and r.finished_at == START for r in rows)
    # and the schedule moved on for each of them
    assert all(j.next_due > START for j in loop.scheduler.schedule())


def test_a_failed_run_in_a_tick_is_recorded_and_the_next_runs(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object) -> JobResult:
        raise RuntimeError("boom")

    for name in registry.JOBS:
        monkeypatch.setitem(registry.JOBS, name, lambda *_a: JobResult(1, 1))
    monkeypatch.setitem(registry.JOBS, "attribute", broken)
    outcomes = loop.scheduler.tick()
    assert {o.job: o.status for o in outcomes}["attribute"] == "failed"
    with loop.store.connect() as conn:
        rows = dict(conn.execute(select(job_runs.c.job, job_runs.c.status)).all())
    assert rows == {name: "failed" if name == "attribute" else "succeeded" for name in registry.JOBS}


def test_the_pending_posts_from_the_watermark_are_the_full_look_ups(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(72)
    cache = LearningCache()
    w = loop.wiring
    now = loop.clock.now()
    attribute_growth(w.store, w.platform, w.generator, w.clock, w.account, w.settings, w.records, cache)
    watermark = cache.pending_since[(w.store.url, w.account)]
    assert watermark <= now - timedelta(hours=48) - LOOK_BACK + timedelta(hours=1)
    loop.run_for(5)  # more posts, and some of the pending ones final now
    now = loop.clock.now()
    with w.store.connect() as conn:
        full = w.store.run(conn, _PENDING, {"account": w.account, "now": now}).all()
        since = w.store.run(conn, _PENDING_SINCE, {"account": w.account, "now": now, "since": watermark}).all()
    assert full and [tuple(r) for r in since] == [tuple(r) for r in full]
    assert any(r.attribution_id is None for r in full) and any(r.attribution_id is not None for r in full)


# The reads of an account's newest rows, or of its rows since a mark: each must walk the account's own range
# of ids on (account, id) (migration 0009). By the primary key they walk every other account's rows written
# meanwhile (200 times the account's own at 200 accounts on one database); by an index of the account's
# status or time, every row of the account ever written (80,000 snapshots after a year).
ACCOUNT_ID_RANGES = {
    "learning's snapshot mark": (history._MARK, "metric_snapshots"),
    "learning's snapshots since the mark": (history._BETWEEN, "metric_snapshots"),
    "learning's recent topics": (history._RECENT_TOPICS, "content_metadata"),
    "the plan's recent posts": (plan._RECENT, "content_metadata"),
    "the plan's kept rows": (plan._RECENT_ROWS, "content_metadata"),
    "the plan's rows since its last read": (plan._SINCE, "content_metadata"),
    "the plan's live-row count": (plan._LIVE_BETWEEN, "content_metadata"),
    "the simulator's posts": (sim._POSTS_AFTER, "sim_posts"),
    "the simulator's follower events": (sim._EVENTS_AFTER, "sim_follower_events"),
}


@pytest.mark.parametrize("name", ACCOUNT_ID_RANGES)
def test_an_accounts_id_range_walks_its_own_rows(loop: Loop, name: str) -> None:
    if loop.store.dialect != "sqlite":
        pytest.skip("SQLite's query plan; PostgreSQL plans by its statistics")
    statement, table = ACCOUNT_ID_RANGES[name]
    compiled = str(statement.statement.compile(loop.store.engine))
    with loop.store.connect() as conn:
        found = " ".join(
            str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", (0,) * compiled.count("?"))
        )
    assert f"INDEX ix_{table}_account_id (account=?" in found and "TEMP B-TREE" not in found, found


def test_the_simulators_duplicate_check_walks_the_text_hash(loop: Loop) -> None:
    """A publish looks for the same text by its hash, not through the account's posts (which an index of the
    account, such as (account, id), would walk: a growing cost a post, 3.7 times at 365 days)."""
    if loop.store.dialect != "sqlite":
        pytest.skip("SQLite's query plan; PostgreSQL plans by its statistics")
    compiled = str(sim._SAME_TEXT.statement.compile(loop.store.engine))
    with loop.store.connect() as conn:
        found = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", (0, 0)))
    assert "INDEX ix_sim_posts_text_sha (text_sha=?)" in found, found


def test_the_window_count_reads_the_index_alone(loop: Loop) -> None:
    """Before each learning run the kept history is checked by a count of the posted posts of its window: by
    `content_metadata(account, status, posted_at)` alone (migration 0008), not each post's row for its status
    (5 ms a run at a full window)."""
    if loop.store.dialect != "sqlite":
        pytest.skip("SQLite's query plan; PostgreSQL plans by its statistics")
    compiled = _POSTED_COUNT.statement.compile(loop.store.engine)
    with loop.store.connect() as conn:
        plan = " ".join(
            str(r[-1])
            for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", ("default", "posted", START, START))
        )
    assert "COVERING INDEX ix_content_metadata_account_status_posted_at" in plan, plan
