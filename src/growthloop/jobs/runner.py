"""Runs one job once: ledger row first (I9), a timeout (I7), a run record whatever happens (I1)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import job_runs
from growthloop.config import Settings
from growthloop.jobs.registry import JOBS
from growthloop.jobs.result import JobResult
from growthloop.learning.blas import single_threaded_blas
from growthloop.ports import Clock, Generator, Platform

log = structlog.get_logger("growthloop.jobs")
INTERRUPTED = "interrupted"

# Built once: every run uses them, and building a statement costs more than SQLite takes to run it.
_KEY = select(job_runs.c.id, job_runs.c.status, job_runs.c.error).where(
    job_runs.c.account == bindparam("account"),
    job_runs.c.job == bindparam("job"),
    job_runs.c.scheduled_for == bindparam("scheduled_for"),
)
_CLAIM = job_runs.insert().returning(job_runs.c.id)
_RETAKE = (
    update(job_runs)
    .where(
        job_runs.c.id == bindparam("run_id"), job_runs.c.status == "failed", job_runs.c.error.like(f"{INTERRUPTED}%")
    )
    .values(
        status="running",
        started_at=bindparam("started_at"),
        finished_at=None,
        error=None,
        attempt=job_runs.c.attempt + 1,
    )
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
    """The parts every job receives: store, platform, generator, clock, account, settings."""

    store: SqlStore
    platform: Platform
    generator: Generator
    clock: Clock
    account: str
    settings: Settings


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
        args = (w.store, w.platform, w.generator, w.clock, w.account, w.settings)
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
        self,
        job: str,
        scheduled_for: datetime,
        then: Callable[[Connection, RunOutcome], None] | None = None,
        fresh: bool = False,
    ) -> RunOutcome:
        """Run `job` for `scheduled_for`; `then` runs in the same transaction that records the outcome.

        In the main thread the run holds one connection for all it reads and writes, and its ledger row is
        written by its first transaction (`SqlStore.hold`): whatever of the run is durable, its ledger row
        is too, and a kill before that leaves nothing, so the same key simply runs again. Elsewhere (a
        worker thread that a timeout may abandon) the ledger row is committed before the job starts.

        A `fresh` key (one the scheduler moved to itself, after this process ran the job's previous key) is
        not looked up first: were it taken after all, the ledger row's insert fails before anything of the
        run commits, and the run is skipped all the same.
        """
        w = self.w
        claim = self._claim(job, scheduled_for, w.clock.now(), fresh)
        if claim is None:
            return self._skipped(job, scheduled_for, then)
        log.info("job.start", job=job, account=w.account, scheduled_for=scheduled_for.isoformat())
        held = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        if not held:
            try:
                with w.store.begin() as conn:
                    claim(conn)
            except ClaimLost:
                return self._skipped(job, scheduled_for, then)
        timeout = w.settings.jobs[job].timeout
        t0 = time.perf_counter()
        outcome: RunOutcome | None
        with w.store.hold(first_write=claim) if held else nullcontext(None) as conn:
            try:
                outcome = RunOutcome(job, scheduled_for, "succeeded", result=self._call(JOBS[job], timeout))
            except ClaimLost:
                outcome = None
            except JobTimeout:
                outcome = RunOutcome(job, scheduled_for, "timed_out", error=f"timed out after {timeout}s")
            except Exception as exc:  # I1: an exception is a failed run, recorded, never swallowed silently
                outcome = RunOutcome(job, scheduled_for, "failed", error=f"{type(exc).__name__}: {exc}")
            written = conn is None or conn.written
            if conn is not None:
                conn.first_write = None  # _finish writes the ledger row itself if nothing did
            if outcome is not None and outcome.result is not None:
                outcome = self._finish(claim, written, outcome, t0, then)
        if outcome is not None and outcome.result is None:
            # after a failure, on a fresh connection: the job may have left the held one mid-statement
            outcome = self._finish(claim, written, outcome, t0, then)
        if outcome is None:
            return self._skipped(job, scheduled_for, then)
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
        elif outcome.status != "skipped":
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

    def _claim(self, job: str, scheduled_for: datetime, started: datetime, fresh: bool = False) -> Claim | None:
        """What writes the run's ledger row; None when this (account, job, scheduled time) already ran (I9).

        A run that a killed process left unfinished (reaped as interrupted at the next start) never
        completed, so its key is taken over and the run is done again.
        """
        key = dict(account=self.w.account, job=job, scheduled_for=scheduled_for)
        if fresh:
            return Claim(key, started)
        with self.w.store.connect() as conn:
            found = conn.execute(_KEY, key).first()
        if found is None:
            return Claim(key, started)
        if found.status == "failed" and (found.error or "").startswith(INTERRUPTED):
            return Claim(key, started, retake=int(found.id))
        return None

    def _finish(
        self,
        claim: Claim,
        written: bool,
        outcome: RunOutcome,
        t0: float,
        then: Callable[[Connection, RunOutcome], None] | None,
    ) -> RunOutcome | None:
        """Record the outcome (and the ledger row, if no transaction of the run wrote it); None when the
        key was taken meanwhile (by another process), so this run counts as skipped."""
        result = outcome.result
        values: dict[str, Any] = {
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
        try:
            with self.w.store.begin() as conn:
                # A run that wrote nothing has no ledger row yet: it is written finished, in one statement.
                if written or not claim(conn, values):
                    # Only a run still marked running is finished: a reaped run stays reaped.
                    conn.execute(_FINISH, dict(values, run_id=claim.run_id))
                if then is not None:
                    then(conn, outcome)
        except ClaimLost:
            return None
        return outcome


class ClaimLost(Exception):
    """The run's key was taken by another run between the look-up and the ledger row's insert."""


class Claim:
    """Writes a run's ledger row, 'running': a new row, or the take-over of an interrupted run's row."""

    def __init__(self, key: dict[str, Any], started: datetime, retake: int | None = None) -> None:
        self.key, self.started, self.retake = key, started, retake
        self.run_id: int | None = retake

    def __call__(self, conn: Connection, finished: dict[str, Any] | None = None) -> bool:
        """Write the row, running, or with the `finished` run's outcome if given; True if it holds that."""
        if self.retake is not None:
            if conn.execute(_RETAKE, {"run_id": self.retake, "started_at": self.started}).rowcount != 1:
                raise ClaimLost()
            return False
        values = dict(self.key, started_at=self.started, status="running", attempt=1)
        try:
            self.run_id = int(conn.execute(_CLAIM, dict(values, **(finished or {}))).scalar_one())
        except IntegrityError:
            raise ClaimLost() from None
        return finished is not None


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
