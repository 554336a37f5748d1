"""Runs one job once: ledger row first (I9), a timeout (I7), a run record whatever happens (I1)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from growthloop import redact
from growthloop.adapters.store.prepared import Prepared
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import job_runs
from growthloop.config import Settings
from growthloop.domain import JobResult
from growthloop.jobs.registry import JOBS, TAKES_LEARNING
from growthloop.learning.blas import single_threaded_blas
from growthloop.loop.history import LearningCache
from growthloop.ports import Clock, Generator, Platform, Records

log = structlog.get_logger("growthloop.jobs")
INTERRUPTED = "interrupted"

# Built once: every run uses them, and building a statement costs more than SQLite takes to run it.
_CLAIM = Prepared(
    job_runs.insert()
    .values(
        account=bindparam("account"),
        job=bindparam("job"),
        scheduled_for=bindparam("scheduled_for"),
        started_at=bindparam("started_at"),
        status="running",
        attempt=1,
    )
    .returning(job_runs.c.id)
)
_RETAKE = Prepared(
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
_FINISH = Prepared(
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
    """The parts every job receives: store, platform, generator, clock, account, settings, and the records (the
    stages' reads and writes, built once per wiring); and what the learning stages keep between runs
    (attribute, learn and plan receive it)."""

    store: SqlStore
    platform: Platform
    generator: Generator
    clock: Clock
    account: str
    settings: Settings
    records: Records  # what the stages read and write, by name (bootstrap.make_records)
    learning: LearningCache = field(default_factory=LearningCache)


@dataclass(frozen=True)
class RunOutcome:
    job: str
    scheduled_for: datetime
    status: str  # succeeded | failed | timed_out | skipped (the key had already run)
    result: JobResult | None = None
    error: str | None = None


_Pending = tuple[dict[str, Any], RunOutcome, Callable[[Connection, RunOutcome], None] | None]


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
        self._pending: _Pending | None = None  # a succeeded run's outcome, folded into the next claim
        self._held: AbstractContextManager[object] | None = None  # the connection kept until the next flush
        single_threaded_blas()

    def close(self) -> None:
        self._release()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _call(self, fn: Callable[..., JobResult], timeout: int) -> JobResult:
        w = self.w
        args: tuple[object, ...] = (w.store, w.platform, w.generator, w.clock, w.account, w.settings, w.records)
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
        self,
        job: str,
        scheduled_for: datetime,
        then: Callable[[Connection, RunOutcome], None] | None = None,
        fold: bool = False,
    ) -> RunOutcome:
        """Run `job` for `scheduled_for`; `then` runs in the same transaction that records the outcome.

        In the main thread the run holds one connection (`SqlStore.hold`) for its ledger row, everything the
        job reads and writes, and its outcome (a folded run keeps it for the next run, up to the flush); the
        ledger row is committed before the job starts, so a kill at any moment leaves the run visible (reaped
        as interrupted at the next start, then taken over).

        With `fold` (the scheduler, when another job of the same tick follows at once), a succeeded run's
        outcome is written in the transaction that claims the next run (or by `flush`): nothing happens
        between the two, so a kill loses what it would have lost between two commits, and the outcome is
        never committed without the job's own writes before it.
        """
        w = self.w
        self.hold()
        keep = False  # a folded run keeps the connection for the next run of its tick (the flush gives it back)
        try:
            run_id = self._claim(job, scheduled_for, w.clock.now())
            if run_id is None:
                keep = fold
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
                self._pending = (self._outcome_values(run_id, outcome, t0), outcome, then)
                if fold:
                    keep = True
                else:
                    self.flush()
        finally:
            if not keep:
                self._release()
        if outcome.result is None:
            # after a failure, on a connection of its own: the job may have left the held one mid-statement
            with self.w.store.begin() as conn:
                self._write_outcome(conn, (self._outcome_values(run_id, outcome, t0), outcome, then))
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

    def flush(self) -> None:
        """Write a folded run's outcome now (its own transaction), and give the held connection back."""
        try:
            if self._pending is not None:
                with self.w.store.begin() as conn:
                    self._write_outcome(conn, self._pending)
                self._pending = None
        finally:
            self._release()

    def hold(self) -> None:
        """Serve the runs from now to the next flush from one connection (`SqlStore.hold`): in the main thread,
        where a run's timeout really stops it. A failed run gives it back before its outcome is written on a
        connection of its own (the job may have left the held one mid-statement), and the next run takes
        another."""
        if (
            self._held is None
            and threading.current_thread() is threading.main_thread()
            and hasattr(signal, "setitimer")
        ):
            held = self.w.store.hold()
            held.__enter__()
            self._held = held

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)

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
        completed, so its key is taken over and the run is done again. A folded outcome of the run before
        is written in the same transaction (again in the second one if the first was rolled back).
        """
        store, pending = self.w.store, self._pending
        key = dict(account=self.w.account, job=job, scheduled_for=scheduled_for)
        try:
            with store.begin() as conn:
                if pending is not None:
                    self._write_outcome(conn, pending)
                run_id = int(store.run(conn, _CLAIM, dict(key, started_at=started)).scalar_one())
            self._pending = None
            return run_id
        except IntegrityError:
            pass
        with store.begin() as conn:
            if pending is not None:
                self._write_outcome(conn, pending)
            retaken = store.run(conn, _RETAKE, {f"key_{k}": v for k, v in key.items()} | {"retaken_at": started})
        self._pending = None
        found = retaken.scalar()
        return None if found is None else int(found)

    def _outcome_values(self, run_id: int, outcome: RunOutcome, t0: float) -> dict[str, Any]:
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
        return values

    def _write_outcome(self, conn: Connection, pending: _Pending) -> None:
        values, outcome, then = pending
        # Only a run still marked running is finished: a reaped run stays reaped.
        self.w.store.run(conn, _FINISH, values)
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


_RUNNING = Prepared(
    select(job_runs.c.id, job_runs.c.job, job_runs.c.started_at).where(
        job_runs.c.account == bindparam("account"), job_runs.c.status == "running"
    )
)


def reap_stuck_runs(store: SqlStore, account: str, now: datetime, settings: Settings, everything: bool = False) -> int:
    """Mark runs still 'running' past their timeout (or all of them, at a process start) as failed."""
    reaped = 0
    with store.connect() as conn:  # mostly there is none: a read, not a write transaction
        if not store.run(conn, _RUNNING, {"account": account}).all():
            return 0
    with store.begin() as conn:
        rows = store.run(conn, _RUNNING, {"account": account}).all()
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
