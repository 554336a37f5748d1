"""Figures about a run: what was posted, followed, attributed and learned, and how well it ranks
against the simulator's truth. Shared by `simulate` and the tests; only the CLI renders them."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from growthloop.adapters.platforms.sim.platform import SimPlatform
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import (
    content_metadata,
    follower_snapshots,
    job_runs,
    performance_tables,
    post_attribution,
    reply_opportunities,
)
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, POSTED
from growthloop.learning.ranks import rank_correlation
from growthloop.loop.history import history_start


def max_in_rolling_hour(times: list[datetime]) -> int:
    """The most posts in any closed one-hour window."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > timedelta(hours=1):
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def learning_quality(store: SqlStore, account: str, truth: dict[str, Any]) -> dict[str, Any]:
    """Spearman rank correlations: learned posterior means vs true effects, attributed vs true follows."""
    per_dim: dict[str, float | None] = {}
    learned_all, true_all = [], []
    with store.connect() as conn:
        for dim in DIMENSIONS:
            t = performance_tables[dim]
            learned = {
                r[0]: r[1] for r in conn.execute(select(t.c[dim], t.c.posterior_mean).where(t.c.account == account))
            }
            true = {v: e["expected_follows"] for v, e in truth["true_effects"].get(dim, {}).items()}
            common = sorted(set(learned) & set(true))
            per_dim[dim] = rank_correlation([learned[v] for v in common], [true[v] for v in common])
            # Pool within-dimension ranks' signal by centring each dimension on its mean.
            if common:
                lm = sum(learned[v] for v in common) / len(common)
                tm = sum(true[v] for v in common) / len(common)
                learned_all += [learned[v] - lm for v in common]
                true_all += [true[v] - tm for v in common]
        pa = post_attribution
        figures = conn.execute(
            select(pa.c.decision_id, pa.c.attributed_followers, pa.c.window_delta).where(
                pa.c.account == account, pa.c.attributed_followers.is_not(None)
            )
        ).all()
    attributed = {r[0]: r[1] for r in figures}
    naive = {r[0]: r[2] for r in figures if r[2] is not None}
    posts = [p for p in truth["posts"] if p["decision_id"] in attributed]
    windowed = [p for p in posts if p["decision_id"] in naive]
    dims = [v for v in per_dim.values() if v is not None]
    return {
        "spearman_values_by_dimension": per_dim,
        "spearman_values_mean": round(sum(dims) / len(dims), 4) if dims else None,
        "spearman_values_pooled": rank_correlation(learned_all, true_all),
        "spearman_posts_vs_true_follows": rank_correlation(
            [attributed[p["decision_id"]] for p in posts], [p["follows"] for p in posts]
        ),
        "spearman_posts_vs_expected_follows": rank_correlation(
            [attributed[p["decision_id"]] for p in posts], [p["expected_follows"] for p in posts]
        ),
        # the seed's window deltas on the same posts, for comparison
        "spearman_posts_naive_vs_true_follows": rank_correlation(
            [naive[p["decision_id"]] for p in windowed], [p["follows"] for p in windowed]
        ),
    }


def summarize(
    store: SqlStore,
    settings: Settings,
    platform: SimPlatform | None,
    start: datetime,
    end: datetime,
    wall_seconds: float,
) -> dict[str, Any]:
    account = settings.account
    cm = content_metadata
    with store.connect() as conn:
        posted_all = conn.execute(
            select(
                cm.c.kind,
                cm.c.posted_at,
                cm.c.tweet_id.label("platform_id"),
                cm.c.is_thread,
                *[cm.c[d] for d in DIMENSIONS],
            ).where(cm.c.account == account, cm.c.status == POSTED)
        ).all()
        status = Counter(
            {
                r[0]: r[1]
                for r in conn.execute(
                    select(cm.c.status, func.count())
                    .where(cm.c.account == account, cm.c.kind == "post")
                    .group_by(cm.c.status)
                )
            }
        )
        replies = Counter(
            {
                r[0]: r[1]
                for r in conn.execute(
                    select(reply_opportunities.c.status, func.count())
                    .where(reply_opportunities.c.account == account)
                    .group_by(reply_opportunities.c.status)
                )
            }
        )
        snapshots = conn.execute(
            select(follower_snapshots.c.observed_at, follower_snapshots.c.followers)
            .where(follower_snapshots.c.account == account)
            .order_by(follower_snapshots.c.observed_at)
        ).all()
        series = [r.observed_at for r in snapshots]
        counts = [r.followers for r in snapshots]
        runs: dict[str, Counter[str]] = defaultdict(Counter)
        for job, run_status, flagged, n in conn.execute(
            select(job_runs.c.job, job_runs.c.status, job_runs.c.flagged.is_not(None), func.count())
            .where(job_runs.c.account == account)
            .group_by(job_runs.c.job, job_runs.c.status, job_runs.c.flagged.is_not(None))
        ):
            runs[job][run_status] += n
            if flagged:
                runs[job]["flagged"] += n
        job_seconds = {
            job: round(float(ms or 0) / 1000, 2)
            for job, ms in conn.execute(
                select(job_runs.c.job, func.sum(job_runs.c.wall_ms))
                .where(job_runs.c.account == account)
                .group_by(job_runs.c.job)
            )
        }
        attributed = {
            r[0]: r[1]
            for r in conn.execute(
                select(post_attribution.c.decision_id, post_attribution.c.final).where(
                    post_attribution.c.account == account
                )
            )
        }
        attributed_ids = (
            conn.execute(select(post_attribution.c.tweet_id).where(post_attribution.c.account == account))
            .scalars()
            .all()
        )
        tables = {
            dim: dict(
                zip(
                    ("rows", "uses"),
                    conn.execute(
                        select(func.count(), func.coalesce(func.sum(t.c.uses), 0)).where(t.c.account == account)
                    ).one(),
                )
            )
            for dim, t in performance_tables.items()
        }
        # the model is of posts (replies are attributed, not learned from), over the history learning reads
        learned_from = conn.execute(
            select(func.count())
            .select_from(post_attribution.join(cm, cm.c.decision_id == post_attribution.c.decision_id))
            .where(
                post_attribution.c.account == account,
                post_attribution.c.attributed_followers.is_not(None),
                post_attribution.c.posted_at > history_start(settings, end),
                cm.c.kind == "post",
            )
        ).scalar_one()
    posted = [r for r in posted_all if r.kind == "post"]
    reply_rows = [r for r in posted_all if r.kind == "reply"]
    gaps = [(b - a).total_seconds() / 60 for a, b in zip(series, series[1:])]
    older = [r for r in posted_all if r.posted_at <= end - timedelta(hours=2)]
    have = set(attributed_ids)
    summary: dict[str, Any] = {
        "account": account,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": round((end - start).total_seconds() / 86400, 3),
        "replies": {
            "published": len(reply_rows),
            "max_in_any_rolling_hour": max_in_rolling_hour([r.posted_at for r in reply_rows]),
            "opportunities_by_status": dict(replies),
        },
        "posts": {
            "published": len(posted),
            "threads": sum(1 for r in posted if r.is_thread),
            "by_status": dict(status),
            "max_in_any_rolling_hour": max_in_rolling_hour([r.posted_at for r in posted]),
            "posted_without_platform_id_or_time": sum(1 for r in posted if not r.platform_id or r.posted_at is None),
            "missing_a_dimension": sum(1 for r in posted if any(not getattr(r, d) for d in DIMENSIONS)),
        },
        "followers": {
            "first": counts[0] if counts else None,
            "last": counts[-1] if counts else None,
            "gained": counts[-1] - counts[0] if counts else None,
            "snapshots": len(counts),
            "max_gap_minutes": round(max(gaps), 2) if gaps else None,
        },
        "jobs": {job: dict(c) for job, c in sorted(runs.items())},
        "job_seconds": job_seconds,  # wall time inside each job; the rest of wall_seconds is the runner
        "failed_runs": sum(c.get("failed", 0) + c.get("timed_out", 0) for c in runs.values()),
        "attribution": {
            "rows": len(attributed),
            "final": sum(1 for f in attributed.values() if f),
            "posts_older_than_2h_without_row": sum(1 for r in older if r.platform_id not in have),
        },
        "learning": {"tables": tables, "posts_learned_from": learned_from},
        "wall_seconds": round(wall_seconds, 2),
    }
    if platform is not None:
        truth = platform.ground_truth(end)
        summary["learning"] |= learning_quality(store, account, truth)
    return summary
