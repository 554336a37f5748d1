"""Stage 8, learn: the Bayesian model of expected follows, and the six performance tables
(docs/design.md#learn, #learning).

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

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import structlog

from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, Insight, JobResult
from growthloop.domain import ValueStats as ValueStats  # a performance table's row, as learn writes it
from growthloop.learning import AttributionFit, FeatureSpace, FollowsModel
from growthloop.learning.steps import Observed, Posts, feature_space, refit
from growthloop.loop.history import (
    FIT_STATE,
    LearningCache,
    PostHistory,
    from_seconds,
    history_start,
    load_history,
    store_model,
    stored_model,
    stored_state,
)
from growthloop.ports import Clock, Connection, Generator, Platform, Records, Store

LEARNED_STAMP = "learned_at"
log = structlog.get_logger("growthloop.learning")


@dataclass
class LearningFacts:
    """The posts learning reads, with their attributed followers (NaN where none yet)."""

    history: PostHistory
    attributed: np.ndarray
    attributed_sd: np.ndarray
    as_of: datetime | None  # the newest attribution among them
    space: FeatureSpace | None = None  # the space the history's design was built in
    _observed: Observed | None = field(default=None, repr=False)

    @property
    def learned_from(self) -> int:
        """Posts with a figure: what the model learns from (replies are attributed, not modelled)."""
        return int((self.history.is_post & np.isfinite(self.attributed)).sum())

    def observed(self) -> Observed:
        """The history's observed counters, computed once."""
        if self._observed is None:
            self._observed = self.history.observed()
        return self._observed


_NO_FIGURE = (None, None, None)


def read_facts(
    records: Records,
    conn: Connection,
    account: str,
    settings: Settings,
    now: datetime,
    decisions: bool = False,
    cache: LearningCache | None = None,
) -> LearningFacts:
    history = load_history(records, conn, account, settings, history_start(settings, now), now, decisions, cache)
    # A final figure is never written again (attribute updates only the pending ones), so the cache keeps
    # those read before: each run reads the figures still moving, not every post of `history_days` again.
    key = (records.history.database(conn), account)
    ids = history.decision_ids
    final: dict[str, tuple[Any, Any, Any]] = cache.final_figures.setdefault(key, {}) if cache is not None else {}
    moving: dict[str, tuple[Any, Any, Any]] = {}
    wanted = [i for i, d in enumerate(ids) if d not in final]
    rows: list[Any] = []
    if wanted and len(wanted) < len(ids):
        # a running process: the figures still moving are those of the newest posts, read as a range of the
        # attributions' (account, posted_at) index from the oldest of them (one reconciled at another time is
        # read by its id below)
        since = from_seconds(float(history.times[wanted[0]])) - timedelta(seconds=1)  # the float's rounding
        rows = records.learn.figures_since(conn, account, since)
    found_ids = {r.decision_id for r in rows}
    # by the history's ids, so that the database walks its decision_id index, not the account's whole history
    rows += records.learn.figures(conn, [ids[i] for i in wanted if ids[i] not in found_ids])
    for r in rows:
        figure = (r.attributed_followers, r.attributed_sd, r.updated_at)
        moving[r.decision_id] = figure
        if cache is not None and r.final:
            final[r.decision_id] = figure
    if len(final) > 2 * len(ids) + 1000:  # let go of the posts the history no longer holds
        kept = {d: final[d] for d in ids if d in final}
        final.clear()
        final.update(kept)
    found, more = final.get, moving.get
    figures = [found(d) or more(d) or _NO_FIGURE for d in ids]
    # the newest attribution among them
    as_of = max((f[2] for f in figures if f[2] is not None), default=None)
    attributed = np.array([f[0] for f in figures], dtype=float)  # None becomes NaN
    sd = np.array([f[1] for f in figures], dtype=float)
    return LearningFacts(history, attributed, sd, as_of, feature_space(settings))


def fit_model(
    facts: LearningFacts, conversion: AttributionFit, settings: Settings, previous: FollowsModel | None
) -> FollowsModel:
    """The model over the facts (`steps.refit`), at the time of the newest fact; a change point is logged."""
    h = facts.history
    assert facts.as_of is not None
    posts = Posts(h.times, h.design, facts.observed(), h.is_post)
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
    posts = h.is_post & np.isfinite(facts.attributed)
    observed = facts.observed()
    impressions = observed.counter("impressions")
    engaged = observed.counter("engagements")
    # a post has a value where its design has the value's column set (the design's space is the model's)
    by_design = facts.space is not None and facts.space.dimensions == model.space.dimensions
    slices = model.space.value_slices
    # np.nanmean's sum is that of the counters with NaN as 0, over its count of the non-NaN: the same here
    if impressions is not None:
        finite_imp, counted_imp = np.isfinite(impressions), ~np.isnan(impressions)
        zeroed_imp = np.where(counted_imp, impressions, 0.0)
    seen_all = (
        np.isfinite(impressions) & np.isfinite(engaged) if impressions is not None and engaged is not None else None
    )
    out: list[ValueStats] = []
    for dim, effects in model.value_effects().items():
        values = None if by_design else np.array([r[dim] for r in h.rows], dtype=object)
        for i, e in enumerate(effects):
            if values is None:
                mask = posts & (h.design[:, slices[dim].start + i] == 1.0)
            else:
                mask = posts & (values == e.value)
            y = facts.attributed[mask]
            avg_impressions = rate = None
            if impressions is not None and (finite_imp & mask).any():
                avg_impressions = float(np.sum(zeroed_imp[mask]) / np.count_nonzero(counted_imp & mask))
            if seen_all is not None and engaged is not None and impressions is not None:
                both = seen_all & mask
                if both.any():
                    shown = impressions[both].sum()
                    rate = float(engaged[both].sum() / shown) if shown > 0 else None
            out.append(
                ValueStats(
                    dimension=dim,
                    value=e.value,
                    uses=int(mask.sum()),
                    avg_impressions=avg_impressions,
                    avg_engagement_rate=rate,
                    avg_followers=float(y.mean()) if len(y) else None,
                    total_followers=float(y.sum()),
                    posterior_mean=e.expected_follows,
                    ci_low=e.ci_low,
                    ci_high=e.ci_high,
                    confidence=e.confidence,
                )
            )
    return out


def learn_performance(
    store: Store,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    records: Records,
    learning: LearningCache | None = None,
) -> JobResult:
    """Fit the model on every attributed post and rebuild the six performance tables from it."""
    with store.begin() as conn:
        facts = read_facts(records, conn, account, settings, clock.now(), cache=learning)
        conversion = stored_state(store, conn, account, FIT_STATE, AttributionFit.from_dict)
        if facts.as_of is None or conversion is None or not np.isfinite(facts.attributed).any():
            return JobResult(0, 0, idle_reason="no attributed followers yet")
        previous, as_of = stored_model(store, conn, account, settings, learning)
        if previous is None or as_of != facts.as_of.isoformat():
            # a new fact since the last fit; otherwise the stored model is this one (and learn idempotent)
            previous = fit_model(facts, conversion, settings, previous)
            store_model(store, conn, account, previous, facts.as_of.isoformat())
            if learning is not None:
                # the planner's next read finds this stamp: the model it would parse is this one
                stamp = facts.as_of.isoformat()
                learning.models[(store.url, account)] = (stamp, (previous, stamp))
        stats = compute_stats(facts, previous)
        records.learn.write_performance(conn, account, stats, facts.as_of)
        # Readers cache the tables until this stamp changes (the planner reads them at every run).
        store.set_state(conn, account, LEARNED_STAMP, facts.as_of.isoformat())
    return JobResult(items_in=facts.learned_from, items_out=len(stats))


def read_performance(
    records: Records, conn: Connection, account: str, store: Store | None = None, cache: LearningCache | None = None
) -> dict[str, list[ValueStats]]:
    """The performance tables as learned, per dimension (empty lists before the first learn).

    With the store and a cache given, the tables are read again only when learn has written them since.
    """
    if store is not None and cache is not None:
        stamp = store.get_state(conn, account, LEARNED_STAMP)
        cached = cache.performance.get((store.url, account))
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1]
        fresh = read_performance(records, conn, account)
        cache.performance[(store.url, account)] = (stamp, fresh)
        return fresh
    return records.learn.performance(conn, account)


def top_insights(performance: dict[str, list[ValueStats]], settings: Settings) -> tuple[Insight, ...]:
    """The values confident enough to quote to the generator, best first (docs/design.md#feed-back)."""
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
