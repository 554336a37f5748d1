"""The pipeline at a glance (the fuller audit is `doctor`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from growthloop.adapters.store.tables import content_metadata, follower_snapshots, job_runs, job_schedule


def pipeline_status(store: Any, account: str, now: datetime) -> dict[str, Any]:
    cm = content_metadata
    out: dict[str, Any] = {"now": now.isoformat()}
    with store.connect() as conn:
        for label, span in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7))):
            since = now - span
            generated = conn.execute(
                select(func.count())
                .select_from(cm)
                .where(cm.c.account == account, cm.c.created_at > since, cm.c.created_at <= now)
            ).scalar_one()
            posted = conn.execute(
                select(func.count())
                .select_from(cm)
                .where(cm.c.account == account, cm.c.posted_at > since, cm.c.posted_at <= now)
            ).scalar_one()
            out[label] = {"generated": generated, "posted": posted}
        out["queue"] = dict(
            conn.execute(select(cm.c.status, func.count()).where(cm.c.account == account).group_by(cm.c.status)).all()
        )
        series = conn.execute(
            select(follower_snapshots.c.observed_at, follower_snapshots.c.followers)
            .where(follower_snapshots.c.account == account, follower_snapshots.c.observed_at <= now)
            .order_by(follower_snapshots.c.observed_at.desc())
            .limit(1)
        ).first()
        week = conn.execute(
            select(follower_snapshots.c.followers)
            .where(follower_snapshots.c.account == account, follower_snapshots.c.observed_at <= now - timedelta(days=7))
            .order_by(follower_snapshots.c.observed_at.desc())
            .limit(1)
        ).scalar()
        out["followers"] = {
            "latest": series.followers if series else None,
            "observed_at": series.observed_at.isoformat() if series else None,
            "change_7d": series.followers - week if series and week is not None else None,
        }
        jobs = []
        for sched in conn.execute(select(job_schedule).where(job_schedule.c.account == account)):
            last = conn.execute(
                select(job_runs)
                .where(job_runs.c.account == account, job_runs.c.job == sched.job)
                .order_by(job_runs.c.id.desc())
                .limit(1)
            ).first()
            jobs.append(
                {
                    "job": sched.job,
                    "enabled": sched.enabled,
                    "next_due": sched.next_due.isoformat(),
                    "last_started": last.started_at.isoformat() if last else None,
                    "last_status": last.status if last else None,
                    "items_in": last.items_in if last else None,
                    "items_out": last.items_out if last else None,
                }
            )
        out["jobs"] = jobs
    return out
