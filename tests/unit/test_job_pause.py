"""A person's pause of one job: skipped by a running scheduler within one tick, kept by sync_schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from growthloop.adapters.store.tables import job_runs, job_schedule
from growthloop.errors import UsageError
from growthloop.jobs.pause import paused_jobs, set_pause
from tests.conftest import START, Loop


def _slots(loop: Loop, job: str) -> list[timedelta]:
    with loop.store.connect() as conn:
        rows = conn.execute(select(job_runs.c.scheduled_for).where(job_runs.c.job == job).order_by(job_runs.c.id))
        return [r.scheduled_for - START for r in rows]


def test_a_paused_job_lets_its_slots_pass_and_runs_again_once_resumed(loop: Loop) -> None:
    loop.run_for(0.1)
    assert _slots(loop, "attribute") == [timedelta(0)]  # every 2 h
    set_pause(loop.store, loop.settings, "attribute", loop.clock.now(), by="ana")  # the scheduler keeps running
    loop.run_for(4.1)
    assert _slots(loop, "attribute") == [timedelta(0)]  # its slots at 2 h and 4 h passed without a run
    assert _slots(loop, "followers")[-1] == timedelta(hours=4)  # the other jobs ran on
    set_pause(loop.store, loop.settings, "attribute", loop.clock.now(), by=None)
    loop.run_for(2)
    assert _slots(loop, "attribute") == [timedelta(0), timedelta(hours=6)]


def test_sync_schedule_keeps_a_pause(loop: Loop) -> None:
    set_pause(loop.store, loop.settings, "learn", START, by="ana")
    loop.scheduler.sync_schedule(START + timedelta(hours=1))  # what a restart does
    with loop.store.connect() as conn:
        pause = paused_jobs(conn, "default")
    assert list(pause) == ["learn"]
    assert (pause["learn"].by, pause["learn"].at) == ("ana", START)


def test_an_unknown_job_is_refused_and_nothing_written(loop: Loop) -> None:
    with loop.store.connect() as conn:
        before = conn.execute(select(job_schedule)).all()
    with pytest.raises(UsageError, match="unknown job 'lern'; known jobs: "):
        set_pause(loop.store, loop.settings, "lern", START, by="ana")
    with loop.store.connect() as conn:
        assert conn.execute(select(job_schedule)).all() == before
