"""The learning steps of the loop, once: what the jobs run on the store's facts and the benchmark on its own.

    observed = observe(counters, given)                              # latest counters, completeness, checkpoint
    figures, lo = attribute_run(posts, times, counts, now, oldest, fit, model, space, settings, start)
    model, change = refit(posts, attributed, attributed_sd, fit, now, previous, space, settings)
    policy = build_policy("bayes", settings, model, as_of)
    decision = decide(policy, seed, n, now, recent_topics)

`loop/attribute.py`, `loop/learn.py` and `loop/policy.py` call them with what `loop/history.py` read from the
store; `bench/engine.py` with what it holds in memory. Every constant and default lives here or in `Settings`,
so a figure of the benchmark is a figure of the loop users run (tests/unit/test_same_loop.py runs both).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from growthloop.domain import epoch_seconds, from_epoch_seconds
from growthloop.learning.attribution import Attribution, AttributionFit, attribute, estimate_completeness
from growthloop.learning.cost import counting_cost
from growthloop.learning.drift import Change, detect_change, drift_weights
from growthloop.learning.model import FeatureSpace, FollowsModel, fatigue_counts, fit_follows_model, follow_design
from growthloop.learning.policies import Context, Decision, Policy, make_policy

if TYPE_CHECKING:
    from growthloop.config import Settings

Array = NDArray[np.float64]

SIGNALS = ("impressions", "profile_clicks", "engagements")  # what learning reads of each post, in this order
ENGAGEMENTS = ("likes", "reposts", "replies", "quotes", "bookmarks")  # summed into "engagements"
SURROGATES = ("profile_clicks", "impressions", "engagements")  # attribution's exposure: the most downstream given
ACCRUAL = ("impressions", "engagements", "profile_clicks")  # completeness from the first given: the most widely given
RECENT_TOPICS = 16  # how far back topic fatigue looks (the longest lag group of the model)
KERNEL = 48 * 3600.0  # follows of a post arrive within this (the delay kernel's cut), seconds
MIN_WEIGHT = 0.01  # a post discounted below this weighs nothing in the fit
DECISIONS = 0x91A7  # the random stream of decision number n: (seed, DECISIONS, n)


def feature_space(settings: Settings) -> FeatureSpace:
    return FeatureSpace.of(settings.buckets)


def surrogate(given: Sequence[str]) -> str:
    return next((c for c in SURROGATES if c in given), "none")


@dataclass(frozen=True)
class Observed:
    """Each post's latest counters (NaN before its first snapshot), how complete they are, and the index of
    the checkpoint they were taken at (-1: none yet)."""

    latest: Array  # (n, len(SIGNALS))
    completeness: Array
    index: NDArray[np.int64]
    given: tuple[str, ...]

    def counter(self, name: str, lo: int = 0) -> Array | None:
        """One counter from post `lo` on, or None where the platform does not give it."""
        return self.latest[lo:, SIGNALS.index(name)] if name in self.given else None


def observe(counters: Array, given: Sequence[str]) -> Observed:
    """`counters` (posts, checkpoints, SIGNALS): NaN where not observed (yet)."""
    seen = np.asarray(np.isfinite(counters).any(axis=2), dtype=bool)
    n, k = counters.shape[:2]
    idx = np.where(seen.any(axis=1), k - 1 - np.argmax(seen[:, ::-1], axis=1), -1).astype(np.int64)
    latest = np.full((n, len(SIGNALS)), np.nan)
    has = idx >= 0
    latest[has] = counters[np.nonzero(has)[0], idx[has]]
    # how counters accrue with age, from the platform's first counter (impressions where there are any)
    base = next((SIGNALS.index(c) for c in ACCRUAL if c in given), 0)
    curve = estimate_completeness(counters[:, :, base])
    completeness = np.where(has, curve[np.maximum(idx, 0)], 0.0)
    return Observed(latest, completeness, idx, tuple(given))


def design_rows(space: FeatureSpace, rows: Sequence[dict[str, str]], times: Array, before: Sequence[str]) -> Array:
    """The design of posts (oldest first) that come after the topics `before` (oldest first): a post's row
    depends only on it and the RECENT_TOPICS posts before it, so it is computed once, when it is new."""
    hours = np.asarray((np.asarray(times) // 3600) % 24, dtype=np.int64)
    fatigue = None
    if space.fatigue_dimension:
        context = list(before)[-RECENT_TOPICS:]
        topics = context + [r.get(space.fatigue_dimension, "") for r in rows]
        fatigue = fatigue_counts(topics, space.fatigue_lags)[len(context) :]
    return space.encode(rows, hours, fatigue)


@dataclass(frozen=True)
class Posts:
    """The posts (and replies) learning reads, oldest first."""

    times: Array
    design: Array
    observed: Observed
    is_post: NDArray[np.bool_]  # replies are attributed (their follows are in the series), not modelled

    def __len__(self) -> int:
        return len(self.times)


def attribute_since(
    posts: Posts,
    times: Array,
    counts: Array,
    now: float,
    since: float,
    warm: AttributionFit | None,
    model: FollowsModel | None,
    space: FeatureSpace,
    settings: Settings,
    figures: bool,
) -> tuple[Attribution, int]:
    """The follower series from `since`, explained by the posts that may have caused any of it: those from the
    returned index on (posted up to KERNEL before `since`)."""
    lo = int(np.searchsorted(posts.times, since - KERNEL, side="left"))
    use = times >= since
    ob = posts.observed
    has = ob.index[lo:] >= 0

    def counter(name: str) -> Array | None:
        values = ob.counter(name, lo)
        return None if values is None else np.where(has, values, np.nan)

    design, prior_mean, prior_sd = follow_design(space, posts.design[lo:], surrogate(ob.given), model)
    result = attribute(
        posts.times[lo:],
        times[use],
        counts[use],
        now,
        features=design,
        profile_clicks=counter("profile_clicks"),
        impressions=counter("impressions"),
        engagements=counter("engagements"),
        completeness=np.where(has, ob.completeness[lo:], 0.0),
        prior_mean=prior_mean,
        prior_sd=prior_sd,
        half_life_days=settings.learning.half_life_days,
        warm=warm,
        figures=figures,
    )
    return result, lo


def attribute_run(
    posts: Posts,
    times: Array,
    counts: Array,
    now: float,
    oldest: float,
    fit: AttributionFit | None,
    model: FollowsModel | None,
    space: FeatureSpace,
    settings: Settings,
    start: float,
) -> tuple[Attribution, int]:
    """One attribution run: the kept posterior updated with the snapshots since it was fitted (from `start`
    without one), then the figures of the posts from `oldest` on (those not final yet). Returns the figures
    (with the new posterior, `.fit`) and the index of the first post they cover."""
    fitted = fit.fitted_until if fit is not None else start
    fit = attribute_since(posts, times, counts, now, fitted, fit, model, space, settings, figures=False)[0].fit
    return attribute_since(posts, times, counts, now, oldest, fit, model, space, settings, figures=True)


def refit(
    posts: Posts,
    attributed: Array,
    attributed_sd: Array,
    conversion: AttributionFit,
    now: float,
    previous: FollowsModel | None,
    space: FeatureSpace,
    settings: Settings,
) -> tuple[FollowsModel, Change | None]:
    """The model over the posts; observations discounted by their age at `now`, and by `drift.FORGET` more
    when they come before the last change point, checked for first (`learning.drift`)."""
    ob = posts.observed
    impressions, clicks = ob.counter("impressions"), ob.counter("profile_clicks")
    changed_at = previous.changed_at if previous is not None else None
    change = None
    if settings.learning.detect_changes:
        # replies are left out of the check as if their counters were not seen yet
        change = detect_change(
            previous,
            posts.design,
            posts.times,
            now,
            impressions=impressions,
            profile_clicks=clicks,
            completeness=np.where(posts.is_post, ob.completeness, 0.0),
            against_before=settings.learning.change_against_before,
            threshold=settings.learning.change_threshold,
        )
        if change is not None:
            changed_at = change.at
    weights = drift_weights(posts.times, now, settings.learning.half_life_days, changed_at)
    weights = np.where((weights < MIN_WEIGHT) | ~posts.is_post, 0.0, weights)
    model = fit_follows_model(
        space,
        posts.design,
        weights,
        conversion,
        attributed,
        attributed_sd=attributed_sd,
        impressions=impressions,
        profile_clicks=clicks,
        engagements=ob.counter("engagements"),
        completeness=ob.completeness,
        previous=previous,
        changed_at=changed_at,
        learn_link=settings.learning.learn_link,
        scales_per_dimension=settings.learning.scales_per_dimension,
    )
    return model, change


def stamp(at: float) -> str:
    """The time a model was fitted at, as stored beside it (its policy's random seed depends on it)."""
    return from_epoch_seconds(at).isoformat()


def build_policy(name: str, settings: Settings, model: FollowsModel | None, as_of: str) -> Policy:
    """The learning policy `name` ("bayes") on the model fitted `as_of`; its Monte Carlo draws are seeded by
    the account's seed and that time, so the same facts give the same policy."""
    policy = make_policy(
        name,
        settings.buckets,
        model=model,
        exploration=settings.learning.exploration,
        temperature=settings.learning.temperature,
        leader_share=settings.learning.leader_share,
        draw_conversion=settings.learning.draw_conversion,
        ids=settings.learning.ids,
        seed=zlib.crc32(f"{settings.seed or 0}:{as_of}".encode()),
    )
    return counting_cost(policy, settings)  # what a post costs, weighed as spend.objective says (learning/cost.py)


def decide(
    policy: Policy, seed: int, n: int, now: datetime, recent_topics: Sequence[str], day_index: int = 0
) -> Decision:
    """Decision number `n` of an account, at `now`, after `recent_topics` (posted and queued, oldest first);
    `day_index` is for the benchmark's oracle (the loop's policies do not look at it)."""
    context = Context(
        at=epoch_seconds(now), hour=now.hour, recent_topics=tuple(recent_topics)[-RECENT_TOPICS:], day_index=day_index
    )
    return policy.decide(np.random.default_rng([seed, DECISIONS, n]), context)
