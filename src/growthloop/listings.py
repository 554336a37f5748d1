"""What `posts`, `jobs list` and `learn show` list, read from the store (the CLI renders it; `status` has
its own module)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from growthloop.adapters.store.records import SqlRecords
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata
from growthloop.config import Settings
from growthloop.jobs.pause import paused_jobs
from growthloop.jobs.registry import JOBS, describe
from growthloop.jobs.scheduler import ScheduledJob
from growthloop.learning.model import FollowsModel
from growthloop.loop.history import stored_model
from growthloop.loop.learn import ValueStats, read_performance


def recent_content(store: SqlStore, account: str, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The account's newest `limit` posts and replies (only those with `status` if given), every column."""
    cm = content_metadata
    query = select(cm).where(cm.c.account == account).order_by(cm.c.id.desc()).limit(limit)
    if status:
        query = query.where(cm.c.status == status)
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def job_list(store: SqlStore, settings: Settings, schedule: list[ScheduledJob]) -> list[dict[str, Any]]:
    """Each job of the registry with its settings, its pause and its next due time in `schedule`."""
    scheduled = {j.job: j for j in schedule}
    with store.connect() as conn:
        paused = paused_jobs(conn, settings.account)
    rows: list[dict[str, Any]] = []
    for name, fn in JOBS.items():
        cfg = settings.jobs[name]
        job = scheduled.get(name)
        rows.append(
            {
                "job": name,
                "what": describe(fn),
                "enabled": cfg.enabled,
                "paused_at": paused[name].at.isoformat() if name in paused else None,
                "paused_by": paused[name].by if name in paused else None,
                "interval_s": cfg.interval,
                "timeout_s": cfg.timeout,
                "next_due": job.next_due.isoformat() if job else None,
            }
        )
    return rows


def learned(store: SqlStore, settings: Settings) -> tuple[dict[str, list[ValueStats]], FollowsModel | None, str]:
    """The performance tables per dimension, and the last model learn fitted with the time of its facts."""
    with store.connect() as conn:
        perf = read_performance(SqlRecords(store), conn, settings.account)
        model, as_of = stored_model(store, conn, settings.account, settings)
    return perf, model, as_of
