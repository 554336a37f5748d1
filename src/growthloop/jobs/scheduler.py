"""One scheduler over one schedule table, driven by a real or a virtual clock (docs/design.md#ports).

The schedule table holds each job's next due time. A tick runs every job that is due, in registry
order, then moves its next due time forward by whole intervals past now: missed slots are skipped,
not replayed, so waking from downtime never bursts. A job a person paused (jobs/pause.py, read at every
tick) lets its due slots pass without a run, and runs again at its next slot once resumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

import structlog
from sqlalchemy import Connection, bindparam, select, update

from growthloop.adapters.store.prepared import Prepared
from growthloop.adapters.store.tables import job_schedule
from growthloop.jobs.pause import Pause, paused_for_run
from growthloop.jobs.registry import JOBS
from growthloop.jobs.runner import JobRunner, RunOutcome, Wiring, reap_stuck_runs

log = structlog.get_logger("growthloop.jobs")


@dataclass(frozen=True)
class ScheduledJob:
    job: str
    interval_s: int
    timeout_s: int
    enabled: bool
    next_due: datetime


REAP_EVERY = timedelta(minutes=30)
_ADVANCE = Prepared(
    update(job_schedule)
    .where(job_schedule.c.account == bindparam("a"), job_schedule.c.job == bindparam("j"))
    .values(next_due=bindparam("next_due"))
)


class Scheduler:
    """The only writer of its account's schedule rows, so it keeps them in memory and writes through."""

    def __init__(self, wiring: Wiring) -> None:
        self.w = wiring
        self.runner = JobRunner(wiring)
        self._jobs: list[ScheduledJob] | None = None
        self._reaped_at: datetime | None = None

    def close(self) -> None:
        self.runner.close()

    def sync_schedule(self, start: datetime) -> list[ScheduledJob]:
        """Make the schedule table match the settings: add missing jobs, update intervals and switches
        (never a person's pause)."""
        w = self.w
        with w.store.begin() as conn:
            have = {
                r.job: r for r in conn.execute(select(job_schedule).where(job_schedule.c.account == w.account)).all()
            }
            for name in JOBS:
                cfg = w.settings.jobs[name]
                values = {"interval_s": cfg.interval, "timeout_s": cfg.timeout, "enabled": cfg.enabled}
                if name in have:
                    conn.execute(
                        update(job_schedule)
                        .where(job_schedule.c.account == w.account, job_schedule.c.job == name)
                        .values(**values)
                    )
                else:
                    conn.execute(job_schedule.insert().values(account=w.account, job=name, next_due=start, **values))
        self._jobs = None
        return self.schedule()

    def schedule(self) -> list[ScheduledJob]:
        if self._jobs is None:
            with self.w.store.begin() as conn:
                rows = conn.execute(select(job_schedule).where(job_schedule.c.account == self.w.account)).all()
            order = list(JOBS)
            self._jobs = sorted(
                (ScheduledJob(r.job, r.interval_s, r.timeout_s, r.enabled, r.next_due) for r in rows if r.job in JOBS),
                key=lambda j: order.index(j.job),
            )
        return list(self._jobs)

    def next_due(self) -> datetime | None:
        due = [j.next_due for j in self.schedule() if j.enabled]
        return min(due) if due else None

    def tick(self) -> list[RunOutcome]:
        """Run every enabled job that is due now and not paused."""
        now = self.w.clock.now()
        if self._reaped_at is None or now - self._reaped_at >= REAP_EVERY:
            reap_stuck_runs(self.w.store, self.w.account, now, self.w.settings)
            self._reaped_at = now
        outcomes: list[RunOutcome] = []
        due = [j for j in self.schedule() if j.enabled and j.next_due <= now]
        if not due:
            return outcomes
        self.runner.hold()  # one connection for the tick: its pause read, its runs, up to the flush
        try:
            paused = self._paused()
            for job in due:
                if job.job in paused:
                    with self.w.store.begin() as conn:
                        self._advance(job, now, conn, None)
                    log.info("job.paused_slot_skipped", account=self.w.account, job=job.job, slot=job.next_due)
            runs = [j for j in due if j.job not in paused]
            for i, job in enumerate(runs):
                # a succeeded run's outcome is written with the next run's claim (one commit less a run)
                fold = i + 1 < len(runs)
                outcomes.append(
                    self.runner.run(job.job, job.next_due, then=partial(self._advance, job, now), fold=fold)
                )
        finally:
            self.runner.flush()
        return outcomes

    def _paused(self) -> dict[str, Pause]:
        with self.w.store.connect() as conn:
            return paused_for_run(conn, self.w.account, self.w.store)  # a paused account's jobs included

    def _advance(self, job: ScheduledJob, now: datetime, conn: Connection, outcome: RunOutcome | None) -> None:
        """Move the job's next due time past now, in the transaction that records its run (or its skip)."""
        interval = timedelta(seconds=job.interval_s)
        missed = (now - job.next_due) // interval + 1
        next_due = job.next_due + missed * interval
        wake_at = outcome.result.wake_at if outcome and outcome.result else None
        if wake_at is not None and now < wake_at < next_due:
            next_due = wake_at
        self.w.store.run(conn, _ADVANCE, {"a": self.w.account, "j": job.job, "next_due": next_due})
        if self._jobs is not None:
            self._jobs = [replace(j, next_due=next_due) if j.job == job.job else j for j in self._jobs]

    def run_until(
        self,
        end: datetime | None,
        on_tick: Callable[[datetime, list[RunOutcome]], object] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Sleep on the clock until the next due job, run the tick, repeat until `end` (None: forever)."""
        while should_stop is None or not should_stop():
            due = self.next_due()
            if due is None or (end is not None and due > end):
                if end is not None:
                    self.w.clock.sleep_until(end)
                return
            self.w.clock.sleep_until(due)
            outcomes = self.tick()
            if on_tick is not None:
                on_tick(self.w.clock.now(), outcomes)
