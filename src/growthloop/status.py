"""`growthloop status`: the pipeline at a glance (the full audit is `doctor`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from growthloop.adapters.store.records import SqlRecords
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import (
    content_metadata,
    follower_snapshots,
    job_runs,
    job_schedule,
    metric_snapshots,
    post_attribution,
)
from growthloop.domain import DIMENSIONS, FAILED, POSTED, SKIPPED
from growthloop.loop.learn import read_performance

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


def _count(conn: Connection, table: Any, account: str, *where: Any) -> int:
    return int(
        conn.execute(select(func.count()).select_from(table).where(table.c.account == account, *where)).scalar_one()
    )


def _stage_counts(conn: Connection, account: str, since: datetime, now: datetime) -> dict[str, int]:
    cm, ms, fs, pa = content_metadata, metric_snapshots, follower_snapshots, post_attribution
    created = (cm.c.created_at > since, cm.c.created_at <= now)
    return {
        "generated": _count(conn, cm, account, *created),
        "rejected": _count(conn, cm, account, *created, cm.c.status == SKIPPED),
        "posted": _count(conn, cm, account, cm.c.kind == "post", cm.c.posted_at > since, cm.c.posted_at <= now),
        "replied": _count(conn, cm, account, cm.c.kind == "reply", cm.c.posted_at > since, cm.c.posted_at <= now),
        "failed": _count(conn, cm, account, *created, cm.c.status == FAILED),
        "metric_snapshots": _count(conn, ms, account, ms.c.observed_at > since, ms.c.observed_at <= now),
        "follower_snapshots": _count(conn, fs, account, fs.c.observed_at > since, fs.c.observed_at <= now),
        "attributed": _count(conn, pa, account, pa.c.updated_at > since, pa.c.updated_at <= now),
    }


def _followers_at(conn: Connection, account: str, when: datetime) -> int | None:
    fs = follower_snapshots
    return conn.execute(
        select(fs.c.followers)
        .where(fs.c.account == account, fs.c.observed_at <= when)
        .order_by(fs.c.observed_at.desc())
        .limit(1)
    ).scalar()


def pipeline_status(store: SqlStore, account: str, now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {"account": account, "now": now.isoformat()}
    with store.connect() as conn:
        out["stages"] = {label: _stage_counts(conn, account, now - span, now) for label, span in PERIODS.items()}
        out["queue"] = dict(
            conn.execute(
                select(content_metadata.c.status, func.count())
                .where(content_metadata.c.account == account)
                .group_by(content_metadata.c.status)
            ).all()
        )
        latest = _followers_at(conn, account, now)
        out["followers"] = {
            "latest": latest,
            **{
                f"change_{label}": (latest - then if latest is not None and then is not None else None)
                for label, span in PERIODS.items()
                for then in [_followers_at(conn, account, now - span)]
            },
        }
        out["jobs"] = [
            _job_line(conn, account, row)
            for row in conn.execute(select(job_schedule).where(job_schedule.c.account == account))
        ]
        performance = read_performance(SqlRecords(store), conn, account)
    out["top_values"] = {
        dim: [
            {
                "value": s.value,
                "uses": s.uses,
                "posterior_mean": round(s.posterior_mean, 4),
                "confidence": round(s.confidence, 3),
            }
            for s in sorted(performance[dim], key=lambda s: s.posterior_mean, reverse=True)[:2]
        ]
        for dim in DIMENSIONS
    }
    out["posted_total"] = out["queue"].get(POSTED, 0)
    return out


def _job_line(conn: Connection, account: str, sched: Any) -> dict[str, Any]:
    last = conn.execute(
        select(job_runs)
        .where(job_runs.c.account == account, job_runs.c.job == sched.job)
        .order_by(job_runs.c.id.desc())
        .limit(1)
    ).first()
    return {
        "job": sched.job,
        "enabled": sched.enabled,
        "paused_at": sched.paused_at.isoformat() if sched.paused_at else None,
        "paused_by": sched.paused_by,
        "next_due": sched.next_due.isoformat(),
        "last_started": last.started_at.isoformat() if last else None,
        "last_status": last.status if last else None,
        "items_in": last.items_in if last else None,
        "items_out": last.items_out if last else None,
        "error": last.error if last else None,
    }
