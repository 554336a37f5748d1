"""A person's pause of one job: kept in job_schedule's paused_at/paused_by, apart from the settings' switch.

The settings' `[jobs.NAME] enabled` says what an account runs and is written into the schedule at each
start; a pause is a decision taken while the loop runs (`growthloop jobs pause`, the dashboard's Jobs page),
so `sync_schedule` never touches it and the scheduler reads it at every tick: a running daemon honours a pause
or a resume within one tick, without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from growthloop.adapters.store.prepared import Prepared
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts, job_schedule
from growthloop.config import Settings
from growthloop.errors import UsageError
from growthloop.jobs.registry import JOBS

_PAUSED = Prepared(
    select(job_schedule.c.job, job_schedule.c.paused_at, job_schedule.c.paused_by).where(
        job_schedule.c.account == bindparam("a"), job_schedule.c.paused_at.is_not(None)
    )
)


@dataclass(frozen=True)
class Pause:
    at: datetime
    by: str


def paused_jobs(conn: Connection, account: str, store: SqlStore | None = None) -> dict[str, Pause]:
    rows = store.run(conn, _PAUSED, {"a": account}) if store is not None else _PAUSED.run(conn, {"a": account})
    return {r.job: Pause(r.paused_at, r.paused_by or "unknown") for r in rows}


def set_pause(store: SqlStore, settings: Settings, job: str, now: datetime, by: str | None) -> None:
    """Pause `job` of the settings' account (`by` names who), or resume it (`by` None)."""
    if job not in JOBS:
        raise UsageError(f"unknown job {job!r}; known jobs: {', '.join(JOBS)}")
    js, account = job_schedule, settings.account
    values = {"paused_at": now if by else None, "paused_by": by}
    with store.begin() as conn:
        found = conn.execute(update(js).where(js.c.account == account, js.c.job == job).values(**values)).rowcount
        if found or by is None:
            return
        # never scheduled yet: the row the first start would write, carrying the pause
        if conn.execute(select(accounts.c.name).where(accounts.c.name == account)).first() is None:
            conn.execute(accounts.insert().values(name=account, platform=settings.platform, created_at=now))
        cfg = settings.jobs[job]
        conn.execute(
            js.insert().values(
                account=account,
                job=job,
                interval_s=cfg.interval,
                timeout_s=cfg.timeout,
                enabled=cfg.enabled,
                next_due=now,
                **values,
            )
        )
