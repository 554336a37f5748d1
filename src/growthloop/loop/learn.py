"""Stage 8, learn: the Bayesian model of expected follows, and the six performance tables (SPEC §2.8, §6).

The model (`learning.fit_follows_model`, "bayes_linear"): log expected follows of a post is a sum of the
effects of its dimension values, its UTC hour and its topic's fatigue, each part fitted on what measures
it best (reach on impressions, clicks on profile clicks per impression, conversion through the follower
series by attribution), with every observation discounted by its age for drift. It is kept in app_state
("follows_model") for the planner, which samples from it (Thompson sampling).

The performance tables show the model's estimates: per dimension value, its uses, average impressions,
engagement rate and attributed followers, and the model's expected follows of a post with that value
(others as usual) with a 95% credible interval and a confidence.

Idempotent: the model and the tables are a pure function of the facts, stamped with the time of the newest
attribution they read (not the time learn ran); with no new facts learn rewrites the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import structlog
from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import performance_tables, post_attribution
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, Insight, JobResult
from growthloop.learning import AttributionFit, FollowsModel
from growthloop.learning.steps import Posts, feature_space, refit
from growthloop.loop.history import (
    FIT_STATE,
    LearningCache,
    PostHistory,
    chunks,
    history_start,
    load_history,
    store_model,
    stored_model,
    stored_state,
)
from growthloop.ports import Clock, Generator, Platform

LEARNED_STAMP = "learned_at"
log = structlog.get_logger("growthloop.learning")


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


@dataclass
class LearningFacts:
    """The posts learning reads, with their attributed followers (NaN where none yet)."""

    history: PostHistory
    attributed: np.ndarray
    attributed_sd: np.ndarray
    as_of: datetime | None  # the newest attribution among them

    @property
    def learned_from(self) -> int:
        """Posts with a figure: what the model learns from (replies are attributed, not modelled)."""
        return int(((np.array(self.history.kinds) == "post") & np.isfinite(self.attributed)).sum())


def read_facts(
    conn: Connection,
    account: str,
    settings: Settings,
    now: datetime,
    decisions: bool = False,
    cache: LearningCache | None = None,
) -> LearningFacts:
    history = load_history(conn, account, settings, history_start(settings, now), now, decisions, cache)
    # A final figure is never written again (attribute updates only the pending ones), so the cache keeps
    # those read before: each run reads the figures still moving, not every post of `history_days` again.
    key = (str(conn.engine.url), account)
    final = cache.final_figures.get(key, {}) if cache is not None else {}
    figures: dict[str, Any] = {d: final[d] for d in history.decision_ids if d in final}
    # by the history's ids, so that the database walks its decision_id index, not the account's whole history
    for chunk in chunks([d for d in history.decision_ids if d not in figures]):
        figures.update((r.decision_id, r) for r in conn.execute(_FIGURES, {"ids": chunk}))
    if cache is not None:
        cache.final_figures[key] = {d: r for d, r in figures.items() if r.final}
    # the newest attribution among them
    as_of = max((r.updated_at for r in figures.values() if r.updated_at is not None), default=None)

    def column(name: str) -> np.ndarray:
        values = [getattr(figures[d], name) if d in figures else None for d in history.decision_ids]
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return LearningFacts(history, column("attributed_followers"), column("attributed_sd"), as_of)


_pa = post_attribution
_FIGURES = select(
    _pa.c.decision_id, _pa.c.attributed_followers, _pa.c.attributed_sd, _pa.c.updated_at, _pa.c.final
).where(_pa.c.decision_id.in_(bindparam("ids", expanding=True)))


def fit_model(
    facts: LearningFacts, conversion: AttributionFit, settings: Settings, previous: FollowsModel | None
) -> FollowsModel:
    """The model over the facts (`steps.refit`), at the time of the newest fact; a change point is logged."""
    h = facts.history
    assert facts.as_of is not None
    posts = Posts(h.times, h.design, h.observed(), h.is_post)
    model, change = refit(
        posts,
        facts.attributed,
        facts.attributed_sd,
        conversion,
        facts.as_of.timestamp(),
        previous,
        feature_space(settings),
        settings,
    )
    if change is not None:
        log.warning(
            "learning.change_detected",
            dimension=change.dimension,
            value=change.value,
            part=change.part,
            z=round(change.z, 2),
            posts=change.posts,
            since=datetime.fromtimestamp(change.at, UTC).isoformat(),
        )
    return model


def compute_stats(facts: LearningFacts, model: FollowsModel) -> list[ValueStats]:
    """The performance tables' rows: what the posts showed, and what the model makes of it."""
    h = facts.history
    posts = (np.array(h.kinds) == "post") & np.isfinite(facts.attributed)
    observed = h.observed()
    impressions = observed.counter("impressions")
    engaged = observed.counter("engagements")
    out: list[ValueStats] = []
    for dim, effects in model.value_effects().items():
        values = np.array([r[dim] for r in h.rows], dtype=object)
        for e in effects:
            mask = posts & (values == e.value)
            y = facts.attributed[mask]
            imp = impressions[mask] if impressions is not None else np.array([])
            eng = engaged[mask] if engaged is not None else np.array([])
            seen = np.isfinite(imp) & np.isfinite(eng) if len(imp) and len(eng) else np.array([], dtype=bool)
            out.append(
                ValueStats(
                    dimension=dim,
                    value=e.value,
                    uses=int(mask.sum()),
                    avg_impressions=float(np.nanmean(imp)) if np.isfinite(imp).any() else None,
                    avg_engagement_rate=(
                        float(eng[seen].sum() / imp[seen].sum()) if seen.any() and imp[seen].sum() > 0 else None
                    ),
                    avg_followers=float(y.mean()) if len(y) else None,
                    total_followers=float(y.sum()),
                    posterior_mean=e.expected_follows,
                    ci_low=e.ci_low,
                    ci_high=e.ci_high,
                    confidence=e.confidence,
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


@lru_cache(maxsize=4)
def _table_writes(dialect: str) -> dict[str, tuple[Any, Any]]:
    """Per dimension, the upsert of its rows and the delete of the values no longer there: built once per
    dialect (learn runs every two hours, and building these cost more than running them)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    writes = {}
    for dim in DIMENSIONS:
        table = performance_tables[dim]
        stmt = insert(table)
        # Upsert by value, so that a row keeps its id and learning twice leaves the table identical.
        upsert = stmt.on_conflict_do_update(
            index_elements=["account", dim], set_={c: stmt.excluded[c] for c in ("updated_at", *STAT_FIELDS)}
        )
        gone = delete(table).where(
            table.c.account == bindparam("account"), table.c[dim].not_in(bindparam("keep", expanding=True))
        )
        writes[dim] = (upsert, gone)
    return writes


def _write(conn: Connection, store: SqlStore, account: str, stats: list[ValueStats], as_of: datetime) -> None:
    for dim, (upsert, gone) in _table_writes(store.dialect).items():
        rows = [_row(account, s, as_of) for s in stats if s.dimension == dim]
        conn.execute(upsert, rows)
        conn.execute(gone, {"account": account, "keep": [r[dim] for r in rows]})


def learn_performance(
    store: SqlStore,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    learning: LearningCache | None = None,
) -> JobResult:
    """Fit the model on every attributed post and rebuild the six performance tables from it."""
    with store.begin() as conn:
        facts = read_facts(conn, account, settings, clock.now(), cache=learning)
        conversion = stored_state(store, conn, account, FIT_STATE, AttributionFit.from_dict)
        if facts.as_of is None or conversion is None or not np.isfinite(facts.attributed).any():
            return JobResult(0, 0, idle_reason="no attributed followers yet")
        previous, as_of = stored_model(store, conn, account, settings, learning)
        if previous is None or as_of != facts.as_of.isoformat():
            # a new fact since the last fit; otherwise the stored model is this one (and learn idempotent)
            previous = fit_model(facts, conversion, settings, previous)
            store_model(store, conn, account, previous, facts.as_of.isoformat())
        stats = compute_stats(facts, previous)
        _write(conn, store, account, stats, facts.as_of)
        # Readers cache the tables until this stamp changes (the planner reads them at every run).
        store.set_state(conn, account, LEARNED_STAMP, facts.as_of.isoformat())
    return JobResult(items_in=facts.learned_from, items_out=len(stats))


def read_performance(
    conn: Connection, account: str, store: SqlStore | None = None, cache: LearningCache | None = None
) -> dict[str, list[ValueStats]]:
    """The performance tables as learned, per dimension (empty lists before the first learn).

    With the store and a cache given, the tables are read again only when learn has written them since.
    """
    if store is not None and cache is not None:
        stamp = store.get_state(conn, account, LEARNED_STAMP)
        cached = cache.performance.get((store.url, account))
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1]  # type: ignore[no-any-return]
        fresh = read_performance(conn, account)
        cache.performance[(store.url, account)] = (stamp, fresh)
        return fresh
    out: dict[str, list[ValueStats]] = {}
    for dim, query in _TABLE_READS.items():
        out[dim] = [
            ValueStats(dimension=dim, value=r._mapping[dim], **{f: r._mapping[f] for f in STAT_FIELDS})
            for r in conn.execute(query, {"account": account})
        ]
    return out


_TABLE_READS = {
    dim: select(t).where(t.c.account == bindparam("account")).order_by(t.c[dim])
    for dim, t in performance_tables.items()
}


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
