"""Runs one job once: ledger row first (I9), a timeout (I7), a run record whatever happens (I1)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from growthloop import redact
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import job_runs
from growthloop.config import Settings
from growthloop.domain import JobResult
from growthloop.jobs.registry import JOBS, TAKES_LEARNING
from growthloop.learning.blas import single_threaded_blas
from growthloop.loop.history import LearningCache
from growthloop.ports import Clock, Generator, Platform

log = structlog.get_logger("growthloop.jobs")
INTERRUPTED = "interrupted"

# Built once: every run uses them, and building a statement costs more than SQLite takes to run it.
_CLAIM = job_runs.insert().returning(job_runs.c.id)
_RETAKE = (
    update(job_runs)
    .where(
        job_runs.c.account == bindparam("key_account"),
        job_runs.c.job == bindparam("key_job"),
        job_runs.c.scheduled_for == bindparam("key_scheduled_for"),
        job_runs.c.status == "failed",
        job_runs.c.error.like(f"{INTERRUPTED}%"),
    )
    .values(
        status="running",
        started_at=bindparam("retaken_at"),
        finished_at=None,
        error=None,
        attempt=job_runs.c.attempt + 1,
    )
    .returning(job_runs.c.id)
)
_FINISH = (
    update(job_runs)
    .where(job_runs.c.id == bindparam("run_id"), job_runs.c.status == "running")
    .values(
        status=bindparam("status"),
        finished_at=bindparam("finished_at"),
        error=bindparam("error"),
        wall_ms=bindparam("wall_ms"),
        items_in=bindparam("items_in"),
        items_out=bindparam("items_out"),
        note=bindparam("note"),
        flagged=bindparam("flagged"),
    )
)


@dataclass
class Wiring:
    """The parts every job receives: store, platform, generator, clock, account, settings; and what the
    learning stages keep between runs (attribute, learn and plan receive it)."""

    store: SqlStore
    platform: Platform
    generator: Generator
    clock: Clock
    account: str
    settings: Settings
    learning: LearningCache = field(default_factory=LearningCache)


@dataclass(frozen=True)
class RunOutcome:
    job: str
    scheduled_for: datetime
    status: str  # succeeded | failed | timed_out | skipped (the key had already run)
    result: JobResult | None = None
    error: str | None = None


class JobTimeout(Exception):
    pass


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    """Interrupt the job with JobTimeout after `seconds` of wall time (main thread, POSIX)."""

    def expire(_signum: int, _frame: object) -> None:
        raise JobTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class JobRunner:
    """Runs jobs with a wall-clock timeout: by SIGALRM in the main thread, which really stops the job;
    elsewhere in a worker thread, which is abandoned when it overruns (a thread cannot be killed)."""

    def __init__(self, wiring: Wiring) -> None:
        self.w = wiring
        self._pool: ThreadPoolExecutor | None = None
        single_threaded_blas()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _call(self, fn: Callable[..., JobResult], timeout: int) -> JobResult:
        w = self.w
        args: tuple[object, ...] = (w.store, w.platform, w.generator, w.clock, w.account, w.settings)
        args += (w.learning,) if fn in TAKES_LEARNING else ()
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            with _alarm(timeout):
                return fn(*args)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            raise JobTimeout() from None

    def run(
        self, job: str, scheduled_for: datetime, then: Callable[[Connection, RunOutcome], None] | None = None
    ) -> RunOutcome:
        """Run `job` for `scheduled_for`; `then` runs in the same transaction that records the outcome.

        In the main thread the run holds one connection (`SqlStore.hold`) for its ledger row, everything the
        job reads and writes, and its outcome; the ledger row is committed before the job starts, so a kill
        at any moment leaves the run visible (reaped as interrupted at the next start, then taken over).
        """
        w = self.w
        held = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        with w.store.hold() if held else nullcontext():
            run_id = self._claim(job, scheduled_for, w.clock.now())
            if run_id is None:
                return self._skipped(job, scheduled_for, then)
            log.info("job.start", job=job, account=w.account, scheduled_for=scheduled_for.isoformat())
            timeout = w.settings.jobs[job].timeout
            t0 = time.perf_counter()
            try:
                outcome = RunOutcome(job, scheduled_for, "succeeded", result=self._call(JOBS[job], timeout))
            except JobTimeout:
                outcome = RunOutcome(job, scheduled_for, "timed_out", error=f"timed out after {timeout}s")
            except Exception as exc:  # I1: an exception is a failed run, recorded, never swallowed silently
                outcome = RunOutcome(job, scheduled_for, "failed", error=redact.scrub(f"{type(exc).__name__}: {exc}"))
            if outcome.result is not None:
                self._finish(run_id, outcome, t0, then)
        if outcome.result is None:
            # after a failure, on a connection of its own: the job may have left the held one mid-statement
            self._finish(run_id, outcome, t0, then)
        if outcome.result is not None:
            r = outcome.result
            log.info(
                "job.end",
                job=job,
                account=w.account,
                items_in=r.items_in,
                items_out=r.items_out,
                idle_reason=r.idle_reason,
            )
        else:
            log.error("job.failed", job=job, account=w.account, status=outcome.status, error=outcome.error)
        return outcome

    def _skipped(
        self, job: str, scheduled_for: datetime, then: Callable[[Connection, RunOutcome], None] | None
    ) -> RunOutcome:
        log.info(
            "job.skipped",
            job=job,
            account=self.w.account,
            scheduled_for=scheduled_for.isoformat(),
            reason="already ran for this scheduled time",
        )
        outcome = RunOutcome(job, scheduled_for, "skipped")
        if then is not None:
            with self.w.store.begin() as conn:
                then(conn, outcome)
        return outcome

    def _claim(self, job: str, scheduled_for: datetime, started: datetime) -> int | None:
        """The run's ledger row, committed; None when this (account, job, scheduled time) already ran (I9).

        A run that a killed process left unfinished (reaped as interrupted at the next start) never
        completed, so its key is taken over and the run is done again.
        """
        key = dict(account=self.w.account, job=job, scheduled_for=scheduled_for)
        try:
            with self.w.store.begin() as conn:
                return int(
                    conn.execute(_CLAIM, dict(key, started_at=started, status="running", attempt=1)).scalar_one()
                )
        except IntegrityError:
            pass
        with self.w.store.begin() as conn:
            retaken = conn.execute(_RETAKE, {f"key_{k}": v for k, v in key.items()} | {"retaken_at": started}).scalar()
        return None if retaken is None else int(retaken)

    def _finish(
        self, run_id: int, outcome: RunOutcome, t0: float, then: Callable[[Connection, RunOutcome], None] | None
    ) -> None:
        result = outcome.result
        values: dict[str, Any] = {
            "run_id": run_id,
            "status": outcome.status,
            "finished_at": self.w.clock.now(),
            "error": outcome.error,
            "wall_ms": round((time.perf_counter() - t0) * 1000, 3),
            "items_in": result.items_in if result else None,
            "items_out": result.items_out if result else None,
            "note": result.idle_reason if result else None,
            "flagged": None,
        }
        if result is not None and result.items_in > 0 and result.items_out == 0 and result.idle_reason is None:
            values["flagged"] = "had input but produced nothing"
        with self.w.store.begin() as conn:
            # Only a run still marked running is finished: a reaped run stays reaped.
            conn.execute(_FINISH, values)
            if then is not None:
                then(conn, outcome)


def manual_slot(store: SqlStore, account: str, job: str, now: datetime) -> datetime:
    """The run key of a run asked for by hand: now, or just after the job's latest key (a finished
    simulation's clock stands still, and its last scheduled run already holds `now`)."""
    with store.connect() as conn:
        latest = conn.execute(
            select(func.max(job_runs.c.scheduled_for)).where(job_runs.c.account == account, job_runs.c.job == job)
        ).scalar()
    return now if latest is None or latest < now else latest + timedelta(milliseconds=1)


def reap_stuck_runs(store: SqlStore, account: str, now: datetime, settings: Settings, everything: bool = False) -> int:
    """Mark runs still 'running' past their timeout (or all of them, at a process start) as failed."""
    reaped = 0
    with store.begin() as conn:
        rows = conn.execute(
            select(job_runs.c.id, job_runs.c.job, job_runs.c.started_at).where(
                job_runs.c.account == account, job_runs.c.status == "running"
            )
        ).all()
        for run_id, job, started_at in rows:
            timeout = settings.jobs[job].timeout if job in settings.jobs else 3600
            if everything or started_at < now - timedelta(seconds=timeout):
                reason = (
                    f"{INTERRUPTED}: the process ended during the run"
                    if everything
                    else f"reaped: still running {timeout}s after start"
                )
                conn.execute(
                    update(job_runs)
                    .where(job_runs.c.id == run_id)
                    .values(status="failed", finished_at=now, error=reason)
                )
                reaped += 1
    if reaped:
        log.warning("job.reaped", account=account, runs=reaped)
    return reaped
