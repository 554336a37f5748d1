"""Stage 8, learn: rebuild the six performance tables from attributed posts (SPEC §2.8).

Per dimension value: uses, average impressions, engagement rate, attributed followers, a posterior mean
with a 95% credible interval, and a confidence. The posterior is a normal model of a value's mean
attributed followers, shrunk toward the account's mean by `prior_uses` pseudo-uses.

Idempotent: the tables are a pure function of the attributions and metrics, stamped with the time of
the newest attribution they read (not the time learn ran), and rows are upserted by value so that
running learn twice over the same facts leaves every table identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, metric_snapshots, performance_tables, post_attribution
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, Insight
from growthloop.jobs.result import JobResult
from growthloop.loop.measure import latest_snapshot_ids
from growthloop.ports import Clock, Generator, Platform

Z95 = 1.959963984540054
LEARNED_STAMP = "learned_at"
ENGAGEMENTS = ("likes", "reposts", "replies", "quotes", "bookmarks")


@dataclass(frozen=True)
class ValueStats:
    dimension: str
    value: str
    uses: int
    avg_impressions: float | None
    avg_engagement_rate: float | None
    avg_followers: float | None
    total_followers: float
    posterior_mean: float
    ci_low: float
    ci_high: float
    confidence: float

    @property
    def posterior_sd(self) -> float:
        return (self.ci_high - self.ci_low) / (2 * Z95)


class LearningRows:
    """The facts learning reads, one entry per attributed post, as columns."""

    def __init__(self, rows: Sequence[Any]) -> None:
        n = len(DIMENSIONS)
        self.dimensions = {dim: np.array([r[i] for r in rows], dtype=object) for i, dim in enumerate(DIMENSIONS)}
        self.followers = np.array([r[n] for r in rows], dtype=float)
        self.impressions = np.array([np.nan if r[n + 2] is None else r[n + 2] for r in rows], dtype=float)
        self.engaged = np.array(
            [np.nan if any(v is None for v in r[n + 3 :]) else sum(r[n + 3 :]) for r in rows], dtype=float
        )
        self.as_of: datetime | None = max((r[n + 1] for r in rows), default=None)

    def __len__(self) -> int:
        return len(self.followers)


def _learning_rows(conn: Connection, account: str) -> LearningRows:
    ms = metric_snapshots
    latest = latest_snapshot_ids(account)
    query = (
        select(
            *[content_metadata.c[d] for d in DIMENSIONS],
            post_attribution.c.attributed_followers,
            post_attribution.c.updated_at,
            ms.c.impressions,
            *[ms.c[e] for e in ENGAGEMENTS],
        )
        .join(content_metadata, content_metadata.c.decision_id == post_attribution.c.decision_id)
        .outerjoin(latest, latest.c.decision_id == post_attribution.c.decision_id)
        .outerjoin(ms, ms.c.id == latest.c.sid)
        .where(post_attribution.c.account == account, post_attribution.c.attributed_followers.is_not(None))
        .order_by(post_attribution.c.decision_id)
    )
    return LearningRows(conn.execute(query).all())


def compute_stats(data: LearningRows, settings: Settings) -> list[ValueStats]:
    if not len(data):
        return []
    y = data.followers
    mu0 = float(y.mean())
    # The noise of one post's figure, pooled over all posts; floored so a flat series still has width.
    sigma2 = max(float(y.var(ddof=1)) if len(y) > 1 else 1.0, 1e-6)
    n0 = settings.learning.prior_uses
    out: list[ValueStats] = []
    for dim in DIMENSIONS:
        values = data.dimensions[dim]
        for value in settings.buckets[dim]:
            mask = values == value
            n = int(mask.sum())
            mean = (n0 * mu0 + float(y[mask].sum())) / (n0 + n)
            sd = (sigma2 / (n0 + n)) ** 0.5
            imp, engaged = data.impressions[mask], data.engaged[mask]
            seen = ~np.isnan(imp) & ~np.isnan(engaged)
            out.append(
                ValueStats(
                    dimension=dim,
                    value=value,
                    uses=n,
                    avg_impressions=float(np.nanmean(imp)) if (~np.isnan(imp)).any() else None,
                    avg_engagement_rate=(
                        float(engaged[seen].sum() / imp[seen].sum()) if seen.any() and imp[seen].sum() > 0 else None
                    ),
                    avg_followers=float(y[mask].mean()) if n else None,
                    total_followers=float(y[mask].sum()),
                    posterior_mean=mean,
                    ci_low=mean - Z95 * sd,
                    ci_high=mean + Z95 * sd,
                    # How far the data has narrowed the prior: 0 with no uses, towards 1 with many.
                    confidence=1.0 - (n0 / (n0 + n)) ** 0.5,
                )
            )
    return out


# The figures a performance table holds for each value, named as its columns.
STAT_FIELDS = tuple(f.name for f in fields(ValueStats) if f.name not in ("dimension", "value"))


def _row(account: str, stats: ValueStats, as_of: datetime) -> dict[str, Any]:
    return {
        "account": account,
        stats.dimension: stats.value,
        "updated_at": as_of,
        **{f: getattr(stats, f) for f in STAT_FIELDS},
    }


def _write(conn: Connection, store: SqlStore, account: str, stats: list[ValueStats], as_of: datetime) -> None:
    insert = pg_insert if store.dialect == "postgresql" else sqlite_insert
    for dim in DIMENSIONS:
        table = performance_tables[dim]
        rows = [_row(account, s, as_of) for s in stats if s.dimension == dim]
        stmt = insert(table)
        # Upsert by value, so that a row keeps its id and learning twice leaves the table identical.
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["account", dim],
                set_={c: stmt.excluded[c] for c in rows[0] if c not in ("account", dim)},
            ),
            rows,
        )
        conn.execute(delete(table).where(table.c.account == account, table.c[dim].not_in([r[dim] for r in rows])))


def learn_performance(
    store: SqlStore, platform: Platform, generator: Generator, clock: Clock, account: str, settings: Settings
) -> JobResult:
    """Rebuild the six performance tables from every attributed post."""
    with store.begin() as conn:
        data = _learning_rows(conn, account)
        if data.as_of is None:
            return JobResult(0, 0)
        stats = compute_stats(data, settings)
        _write(conn, store, account, stats, data.as_of)
        # Readers cache the tables until this stamp changes (the planner reads them at every run).
        store.set_state(conn, account, LEARNED_STAMP, clock.now().isoformat())
    return JobResult(items_in=len(data), items_out=len(stats))


_cache: dict[tuple[str, str], tuple[object, dict[str, list[ValueStats]]]] = {}


def read_performance(conn: Connection, account: str, store: SqlStore | None = None) -> dict[str, list[ValueStats]]:
    """The performance tables as learned, per dimension (empty lists before the first learn).

    With the store given, the tables are read again only when learn has written them since.
    """
    if store is not None:
        stamp = store.get_state(conn, account, LEARNED_STAMP)
        cached = _cache.get((store.url, account))
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1]
        fresh = read_performance(conn, account)
        _cache[(store.url, account)] = (stamp, fresh)
        return fresh
    out: dict[str, list[ValueStats]] = {}
    for dim in DIMENSIONS:
        t = performance_tables[dim]
        out[dim] = [
            ValueStats(dimension=dim, value=r._mapping[dim], **{f: r._mapping[f] for f in STAT_FIELDS})
            for r in conn.execute(select(t).where(t.c.account == account).order_by(t.c[dim]))
        ]
    return out


def top_insights(performance: dict[str, list[ValueStats]], settings: Settings) -> tuple[Insight, ...]:
    """The values confident enough to quote to the generator, best first (SPEC §2.9)."""
    quoted: list[Insight] = []
    for dim in DIMENSIONS:
        ranked = sorted(
            (s for s in performance.get(dim, []) if s.uses and s.confidence >= settings.learning.insight_confidence),
            key=lambda s: s.posterior_mean,
            reverse=True,
        )
        for s in ranked[: settings.learning.insights_per_dimension]:
            quoted.append(
                Insight(
                    dimension=dim,
                    value=s.value,
                    avg_followers=s.avg_followers or 0.0,
                    engagement_rate=s.avg_engagement_rate,
                    uses=s.uses,
                    confidence=s.confidence,
                )
            )
    return tuple(quoted)
