"""A person's pause of one job: kept in job_schedule's paused_at/paused_by, apart from the settings' switch.

The settings' `[jobs.NAME] enabled` says what an account runs and is written into the schedule at each
start; a pause is a decision taken while the loop runs (`growthloop jobs pause`, the dashboard's Jobs page),
so `sync_schedule` never touches it and the scheduler reads it at every tick: a running daemon honours a pause
or a resume within one tick, without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, bindparam, null, select, union_all, update

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
    removed: bool = False  # the account was removed (accounts remove), not paused


def paused_jobs(conn: Connection, account: str, store: SqlStore | None = None) -> dict[str, Pause]:
    rows = store.run(conn, _PAUSED, {"a": account}) if store is not None else _PAUSED.run(conn, {"a": account})
    return {r.job: Pause(r.paused_at, r.paused_by or "unknown") for r in rows}


_ACCOUNT = Prepared(  # read at every tick: prepared, like _PAUSED
    select(accounts.c.paused_at, accounts.c.paused_by, accounts.c.removed_at).where(accounts.c.name == bindparam("a"))
)


def account_pause(conn: Connection, account: str) -> Pause | None:
    """The pause of the whole account (growthloop/accounts.py), a removed account's included: none of its
    jobs runs."""
    row = _ACCOUNT.run(conn, {"a": account}).first()
    if row is None:
        return None
    if row.removed_at is not None:
        return Pause(row.removed_at, "removed", removed=True)
    return Pause(row.paused_at, row.paused_by or "unknown") if row.paused_at is not None else None


def refuse_paused_account(store: SqlStore, account: str) -> None:
    """`jobs run` on a paused (or removed) account: a one-line UsageError, before anything is written."""
    with store.connect() as conn:
        pause = account_pause(conn, account)
    if pause is None:
        return
    if pause.removed:
        raise UsageError(f"account {account!r} was removed {pause.at:%Y-%m-%d %H:%M} UTC: its jobs do not run")
    raise UsageError(
        f"account {account!r} is paused by {pause.by} since {pause.at:%Y-%m-%d %H:%M} UTC: its jobs do not run; "
        f"growthloop accounts resume {account}"
    )


# The scheduler's read at every tick: the account's row (its job NULL) and its paused jobs, in one statement.
_FOR_RUN = Prepared(
    union_all(
        select(
            null().cast(String).label("job"), accounts.c.paused_at, accounts.c.paused_by, accounts.c.removed_at
        ).where(accounts.c.name == bindparam("a")),
        select(
            job_schedule.c.job, job_schedule.c.paused_at, job_schedule.c.paused_by, null().label("removed_at")
        ).where(job_schedule.c.account == bindparam("a"), job_schedule.c.paused_at.is_not(None)),
    )
)


def paused_for_run(conn: Connection, account: str, store: SqlStore | None = None) -> dict[str, Pause]:
    """The jobs that must not run now: every job of a paused account, else the jobs paused one by one."""
    rows = store.run(conn, _FOR_RUN, {"a": account}) if store is not None else _FOR_RUN.run(conn, {"a": account})
    jobs: dict[str, Pause] = {}
    for r in rows:
        if r.job is None:  # the account's row
            if r.removed_at is not None:
                return dict.fromkeys(JOBS, Pause(r.removed_at, "removed", removed=True))
            if r.paused_at is not None:
                return dict.fromkeys(JOBS, Pause(r.paused_at, r.paused_by or "unknown"))
        else:
            jobs[r.job] = Pause(r.paused_at, r.paused_by or "unknown")
    return jobs


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
