"""The run ledger and the scheduler: I1 (no silent failure), I7 (timeouts, reaping), I9 (idempotent keys)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from growthloop.adapters.store.tables import job_runs, job_schedule
from growthloop.domain import JobResult
from growthloop.jobs import registry
from growthloop.jobs.runner import reap_stuck_runs
from tests.conftest import START, Loop


def _runs(loop: Loop, job: str) -> list[object]:
    with loop.store.connect() as conn:
        return list(conn.execute(select(job_runs).where(job_runs.c.job == job).order_by(job_runs.c.id)))


def test_a_scheduled_time_runs_once(loop: Loop) -> None:
    first = loop.scheduler.runner.run("followers", START)
    again = loop.scheduler.runner.run("followers", START)
    assert (first.status, again.status) == ("succeeded", "skipped")
    assert len(_runs(loop, "followers")) == 1


def test_an_exception_is_a_failed_run_with_its_error(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> JobResult:
        raise RuntimeError("follower endpoint said no")

    monkeypatch.setitem(registry.JOBS, "followers", broken)
    outcome = loop.scheduler.runner.run("followers", START)
    (run,) = _runs(loop, "followers")
    assert outcome.status == run.status == "failed"
    assert run.error == "RuntimeError: follower endpoint said no" and run.finished_at is not None


def test_input_without_output_is_flagged_unless_explained(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.JOBS, "attribute", lambda *_: JobResult(5, 0))
    monkeypatch.setitem(registry.JOBS, "post", lambda *_: JobResult(3, 0, idle_reason="rate limit"))
    loop.scheduler.runner.run("attribute", START)
    loop.scheduler.runner.run("post", START)
    assert _runs(loop, "attribute")[0].flagged == "had input but produced nothing"
    post = _runs(loop, "post")[0]
    assert post.flagged is None and post.note == "rate limit"


def test_a_job_past_its_timeout_is_stopped_and_recorded(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    def stuck(*_args: object) -> JobResult:
        time.sleep(30)
        return JobResult(1, 1)

    monkeypatch.setitem(registry.JOBS, "metrics", stuck)
    jobs = dict(loop.settings.jobs)
    jobs["metrics"] = jobs["metrics"].model_copy(update={"timeout": 1})
    loop.wiring.settings = loop.settings.model_copy(update={"jobs": jobs})
    t0 = time.perf_counter()
    outcome = loop.scheduler.runner.run("metrics", START)
    assert time.perf_counter() - t0 < 5
    assert outcome.status == "timed_out"
    assert _runs(loop, "metrics")[0].error == "timed out after 1s"


def test_a_run_left_running_is_reaped(loop: Loop) -> None:
    with loop.store.begin() as conn:
        conn.execute(
            job_runs.insert().values(
                account="default", job="learn", scheduled_for=START, started_at=START, status="running"
            )
        )
    assert reap_stuck_runs(loop.store, "default", START + timedelta(seconds=60), loop.settings) == 0
    assert reap_stuck_runs(loop.store, "default", START + timedelta(hours=1), loop.settings) == 1
    (run,) = _runs(loop, "learn")
    assert run.status == "failed" and run.error.startswith("reaped")


def test_downtime_skips_missed_slots_instead_of_replaying_them(loop: Loop) -> None:
    loop.scheduler.tick()
    loop.clock.advance(10 * 3600 + 60)  # ten hours asleep
    loop.scheduler.tick()
    followers = _runs(loop, "followers")
    assert len(followers) == 2  # one at the start, one on waking: no burst of 40
    with loop.store.connect() as conn:
        due = conn.execute(select(job_schedule.c.next_due).where(job_schedule.c.job == "followers")).scalar_one()
    assert due == START + timedelta(hours=10, minutes=15)


def test_a_failing_job_keeps_its_schedule(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    """I7: recurrence never depends on a previous run."""
    monkeypatch.setitem(registry.JOBS, "attribute", lambda *_: 1 / 0)
    loop.run_for(6.1)
    runs = _runs(loop, "attribute")
    assert [r.status for r in runs] == ["failed"] * 4
    assert [r.scheduled_for - START for r in runs] == [timedelta(hours=h) for h in (0, 2, 4, 6)]


def test_a_job_may_ask_to_run_earlier_but_never_later(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    wake = {"at": START + timedelta(minutes=5)}
    monkeypatch.setitem(registry.JOBS, "post", lambda *_: JobResult(0, 0, wake_at=wake["at"]))
    loop.scheduler.tick()
    assert next(j for j in loop.scheduler.schedule() if j.job == "post").next_due == START + timedelta(minutes=5)
    wake["at"] = START + timedelta(days=3)
    loop.clock.advance(300)
    loop.scheduler.tick()
    # A wake-up later than the regular interval is ignored: the job is due one interval after this run.
    assert next(j for j in loop.scheduler.schedule() if j.job == "post").next_due == START + timedelta(minutes=20)
