"""doctor finds each failure of the seed system by itself, names the cause, and does so promptly.

The fault matrix: each failure mode of the seed's audit is injected into a simulated run that had been
healthy for a day; the loop then runs tick by tick on the virtual clock and doctor is asked after each
tick. The test prints and checks the virtual time of detection against the interval of the job
concerned.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from growthloop.adapters.store.tables import app_state, content_metadata, job_schedule, performance_tables
from growthloop.audit.doctor import FAIL, PASS, SKIP, WARN, Check, run_doctor
from growthloop.domain import JobResult
from growthloop.errors import PlatformUnavailable, RateLimited
from growthloop.jobs import registry
from growthloop.loop import plan as plan_stage
from growthloop.loop.history import MODEL_STAMP, MODEL_STATE
from tests.conftest import START, Loop


def doctor(loop: Loop) -> dict[str, Check]:
    return {c.name: c for c in run_doctor(loop.store, loop.settings, "default", loop.clock.now())}


@pytest.fixture(scope="module")
def healthy_week(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Check]:
    from growthloop.adapters.store.store import SqlStore
    from growthloop.config import load_settings

    url = f"sqlite:///{tmp_path_factory.mktemp('week') / 'week.db'}"
    store = SqlStore(url)
    store.upgrade()
    loop = Loop(store, load_settings(None, database_url=url, seed=7))
    loop.run_for(7 * 24)
    try:
        return doctor(loop)
    finally:
        loop.scheduler.close()
        store.dispose()


def test_a_healthy_week_has_no_failing_check_and_no_unexplained_warning(healthy_week: dict[str, Check]) -> None:
    failing = [c for c in healthy_week.values() if c.state == FAIL]
    assert failing == []
    for check in healthy_week.values():
        assert check.state in (PASS, SKIP, WARN)
        if check.state == WARN:
            assert check.cause and check.fix, check
    skipped = [c.name for c in healthy_week.values() if c.state == SKIP]
    assert skipped == ["llm.spend"]  # nothing to check until an LLM writer spends money
    assert len(healthy_week) >= 30


def _stop_scheduling(loop: Loop, job: str) -> None:
    with loop.store.begin() as conn:
        conn.execute(update(job_schedule).where(job_schedule.c.job == job).values(enabled=False))
    loop.scheduler._jobs = None  # the scheduler re-reads its table, as a restarted daemon would


def _raise_in(job: str) -> Callable[[Loop, pytest.MonkeyPatch], None]:
    def inject(loop: Loop, mp: pytest.MonkeyPatch) -> None:
        def broken(*_: object) -> JobResult:
            raise RuntimeError(f"{job} exploded")

        mp.setitem(registry.JOBS, job, broken)

    return inject


def _never_marked_posted(loop: Loop, mp: pytest.MonkeyPatch) -> None:
    mp.setattr(loop.wiring.records.post, "mark_posted", lambda *a, **k: None)


def _posted_without_id(loop: Loop, mp: pytest.MonkeyPatch) -> None:
    original = loop.wiring.records.post.mark_posted

    def lose_the_id(conn: Any, decision_id: str, attempt_id: int, receipt: Any, now: datetime, outcome: str) -> None:
        original(conn, decision_id, attempt_id, receipt, now, outcome)
        conn.execute(
            content_metadata.update().where(content_metadata.c.decision_id == decision_id).values(tweet_id=None)
        )

    mp.setattr(loop.wiring.records.post, "mark_posted", lose_the_id)


def _followers_stop(loop: Loop, mp: pytest.MonkeyPatch) -> None:
    def gone(now: datetime) -> int:
        raise PlatformUnavailable("followers endpoint timed out")

    mp.setattr(loop.platform, "follower_count", gone)


def _tables_emptied(loop: Loop, mp: pytest.MonkeyPatch) -> None:
    with loop.store.begin() as conn:
        for table in performance_tables.values():
            conn.execute(delete(table))
    mp.setitem(registry.JOBS, "learn", lambda *_: JobResult(0, 0))


def _model_lost(loop: Loop, mp: pytest.MonkeyPatch) -> None:
    with loop.store.begin() as conn:
        conn.execute(delete(app_state).where(app_state.c.key.in_([MODEL_STATE, MODEL_STAMP])))
    mp.setitem(registry.JOBS, "learn", lambda *_: JobResult(0, 0))


def _metadata_missing(loop: Loop, mp: pytest.MonkeyPatch) -> None:
    original = plan_stage.Composer.decide

    def forgetful(self: Any, *args: Any) -> Any:
        decision = original(self, *args)
        decision.dimensions["angle"] = ""
        return decision

    mp.setattr(plan_stage.Composer, "decide", forgetful)


def _posting_stuck(loop: Loop, mp: pytest.MonkeyPatch) -> None:
    def refuse(request: Any, now: datetime) -> Any:
        raise RateLimited(now + timedelta(days=30), "429 Too Many Requests")

    mp.setattr(loop.platform, "publish", refuse)


# (fault, injection, the check that must fail, the job concerned)
FAULTS: list[tuple[str, Callable[[Loop, pytest.MonkeyPatch], None], str, str]] = [
    ("attribution job not scheduled", lambda lp, mp: _stop_scheduling(lp, "attribute"), "job.attribute", "attribute"),
    ("a job raising at every run", _raise_in("metrics"), "job.metrics", "metrics"),
    ("posts never marked posted", _never_marked_posted, "posting.stuck", "post"),
    ("posted rows without platform id", _posted_without_id, "posting.receipts", "post"),
    ("follower tracking stopped", _followers_stop, "followers.fresh", "followers"),
    ("performance tables empty while posts exist", _tables_emptied, "learning.tables", "learn"),
    ("the model lost and never refitted", _model_lost, "learning.model", "learn"),
    ("metadata missing on generated content", _metadata_missing, "dimensions.generated", "plan"),
    ("generation running while posting is stuck", _posting_stuck, "posting.flow", "post"),
]


@pytest.mark.parametrize(("fault", "inject", "check", "job"), FAULTS, ids=[f[0] for f in FAULTS])
def test_doctor_names_each_seed_failure_within_one_interval(
    simulated: Callable[[float], Loop],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    inject: Callable[[Loop, pytest.MonkeyPatch], None],
    check: str,
    job: str,
) -> None:
    loop = simulated(24)  # a copy of one healthy simulated day, shared by the cases
    assert loop.clock.now() == START + timedelta(hours=24)
    before = doctor(loop)
    assert before[check].state == PASS, before[check]
    injected_at = loop.clock.now()
    inject(loop, monkeypatch)
    interval = timedelta(seconds=loop.settings.jobs[job].interval)
    # Doctor must name the fault within one interval of the job concerned; it is asked after every
    # tick, and ticks are up to 15 minutes apart, so that is the measuring precision.
    deadline = injected_at + interval + timedelta(minutes=15)
    detected: Check | None = None
    while loop.clock.now() <= deadline:
        found = doctor(loop)[check]
        if found.state == FAIL:
            detected = found
            break
        due = loop.scheduler.next_due()
        assert due is not None
        loop.clock.sleep_until(due)
        loop.scheduler.tick()
    assert detected is not None, f"{fault}: doctor did not fail {check} by {deadline}"
    latency = loop.clock.now() - injected_at
    print(f"{fault}: {check} failed {latency} after injection (job interval {interval}): {detected.cause}")
    assert latency <= interval + timedelta(minutes=15)
    assert detected.cause and detected.fix and detected.measured and detected.expected
    # What doctor measured is what changed: the failing check reports another measurement than the passing one.
    assert detected.measured != before[check].measured, (before[check], detected)


def test_the_detection_latency_is_within_one_interval_of_the_first_faulty_run(
    simulated: Callable[[float], Loop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The strict form for a job that fails: doctor reports at the very tick of the first failed run."""
    loop = simulated(24)
    _raise_in("attribute")(loop, monkeypatch)
    while doctor(loop)["job.attribute"].state != FAIL:
        due = loop.scheduler.next_due()
        assert due is not None
        loop.clock.sleep_until(due)
        loop.scheduler.tick()
    with loop.store.connect() as conn:
        from sqlalchemy import select

        from growthloop.adapters.store.tables import job_runs

        first_failure = (
            conn.execute(
                select(job_runs.c.started_at)
                .where(job_runs.c.job == "attribute", job_runs.c.status == "failed")
                .order_by(job_runs.c.id)
            )
            .scalars()
            .first()
        )
    assert first_failure == loop.clock.now()
