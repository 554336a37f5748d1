"""Stage 7, attribute: which posts brought followers (docs/design.md#attribute, #learning).

For every posted post until its figures are final (48 hours and a snapshot interval after posting):

- the seed's window figures, kept for comparison: the followers before it and 2 h, 24 h and 48 h after,
  and the latest window's delta (`learning.naive_windows`). At 2 posts an hour each window holds ~96 posts,
  so a window delta credits a post with its neighbours' followers;
- the followers attributed to it by the delay-kernel model (`learning.attribute`): the follower series
  explained by the posts' surrogates (profile clicks, else impressions, else engagements) through the delay
  with which follows arrive, plus organic growth and churn, with a standard deviation and the model's name
  and version.

The model's posterior is kept between runs (app_state "attribution_fit"): each run adds only the follower
snapshots since the last one, so a run every two hours costs milliseconds however long the account has run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from growthloop.config import Settings
from growthloop.domain import JobResult
from growthloop.learning import Attribution, AttributionFit, naive_windows
from growthloop.learning.steps import KERNEL as KERNEL_SECONDS
from growthloop.learning.steps import Posts, attribute_run, feature_space
from growthloop.loop.history import (
    FIT_STATE,
    LearningCache,
    from_seconds,
    history_start,
    load_followers,
    load_history,
    stored_model,
    stored_state,
)
from growthloop.ports import Clock, Generator, Platform, Records, Row, Store

WINDOWS = {
    "followers_2h": timedelta(hours=2),
    "followers_24h": timedelta(hours=24),
    "followers_48h": timedelta(hours=48),
}
KERNEL = timedelta(seconds=KERNEL_SECONDS)  # follows of a post arrive within this


def tolerance(settings: Settings) -> timedelta:
    """How far a follower snapshot may be from the time it stands for."""
    return timedelta(seconds=max(2 * settings.jobs["followers"].interval, 1800))


# How far back a running process looks for posts not final yet, before the oldest it left pending: a post
# reconciled later than this after it went out (its outcome unknown all that time) is attributed by the
# next process to start, which reads every pending post.
LOOK_BACK = timedelta(days=7)


def attribute_growth(
    store: Store,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    records: Records,
    learning: LearningCache | None = None,
) -> JobResult:
    """Fill post_attribution for every posted post whose figures are not final yet."""
    now = clock.now()
    key = (store.url, account)
    watermark = learning.pending_since.get(key) if learning is not None else None
    with store.connect() as conn:
        pending = records.attribution.pending(conn, account, now, watermark)
        if not pending:
            if learning is not None:
                learning.pending_since[key] = now - LOOK_BACK
            return JobResult(0, 0)
        fit = stored_state(store, conn, account, FIT_STATE, AttributionFit.from_dict)
        model, _ = stored_model(store, conn, account, settings, learning)
        # a post's figure depends on the series from its posting on (and on the posts before it whose
        # follows still arrive then): the posts not final yet need no more than that
        start = history_start(settings, now)
        oldest = max(pending[0].posted_at, start)
        fitted = from_seconds(fit.fitted_until) if fit is not None else start
        since = min(oldest, fitted)
        history = load_history(records, conn, account, settings, since - KERNEL, now, cache=learning)
        times, counts = load_followers(records, conn, account, since - tolerance(settings), now)
    posts = Posts(history.times, history.design, history.observed(), history.is_post)
    figures, first = attribute_run(
        posts,
        times,
        counts,
        now.timestamp(),
        oldest.timestamp(),
        fit,
        model,
        feature_space(settings),
        settings,
        start=start.timestamp(),
    )
    rows = _rows(pending, history.decision_ids[first:], figures, times, counts, now, settings)
    inserts = [
        dict(r, account=account, decision_id=p.decision_id, tweet_id=p.tweet_id, posted_at=p.posted_at)
        for p, r in zip(pending, rows)
        if p.attribution_id is None
    ]
    updates = [dict(r, key=p.decision_id) for p, r in zip(pending, rows) if p.attribution_id is not None]
    with store.begin() as conn:
        records.attribution.write(conn, inserts, updates)
        store.set_state(conn, account, FIT_STATE, figures.fit.to_dict())
    if learning is not None:
        # every post before the oldest one still pending is final now
        still = [p.posted_at for p, r in zip(pending, rows, strict=True) if not r["final"]]
        learning.pending_since[key] = min([*still, now]) - LOOK_BACK
    return JobResult(len(pending), len(inserts) + len(updates))


def _rows(
    pending: Sequence[Row],
    attributed_ids: list[str],
    figures: Attribution,
    times: np.ndarray,
    counts: np.ndarray,
    now: datetime,
    settings: Settings,
) -> list[dict[str, Any]]:
    """The post_attribution columns of each pending post."""
    tol = tolerance(settings)
    posted = np.array([p.posted_at.timestamp() for p in pending])
    naive = naive_windows(
        posted,
        times,
        counts,
        now.timestamp(),
        windows=tuple((name, offset.total_seconds()) for name, offset in WINDOWS.items()),
        tolerance=tol.total_seconds(),
    )
    position = {d: i for i, d in enumerate(attributed_ids)}
    # as Python floats (the same values), looked at post by post
    before, delta = naive.before.tolist(), naive.delta.tolist()
    after = {w: naive.after[w].tolist() for w in WINDOWS}
    newest = float(times.max()) if len(times) else -math.inf  # a snapshot after the post: one after it exists
    attributed_all, sd_all = figures.attributed.tolist(), figures.sd.tolist()
    method, version = figures.model_name, figures.model_version
    final_after = WINDOWS["followers_48h"] + tol
    out = []
    for k, post in enumerate(pending):
        windows = {w: after[w][k] for w in WINDOWS}
        reasons = _missing_windows(post.posted_at, before[k], windows, now, tol)
        attributed = sd = None
        i = position.get(post.decision_id, -1)
        if not math.isfinite(before[k]):
            pass  # no follower count before the post: the series cannot say what it brought
        elif not newest > posted[k]:
            reasons.append("no follower snapshot since the post yet")
        elif i < 0:
            reasons.append("older than the history learning reads")
        else:
            attributed, sd = attributed_all[i], sd_all[i]
        out.append(
            dict(
                followers_before=_int(before[k]),
                **{w: _int(v) for w, v in windows.items()},
                window_delta=_int(delta[k]),
                attributed_followers=attributed,
                attributed_sd=sd,
                missing_reason="; ".join(reasons) or None,
                method=method,
                method_version=version,
                final=post.posted_at + final_after <= now,
                updated_at=now,
            )
        )
    return out


def _missing_windows(
    posted_at: datetime, before: float, after: dict[str, float], now: datetime, tol: timedelta
) -> list[str]:
    """Why a window figure that is due is missing (one still to come is not a fault)."""
    reasons = []
    if not math.isfinite(before):
        reasons.append(f"no follower snapshot within {tol} before {posted_at.isoformat()}")
    for name, value in after.items():
        end = posted_at + WINDOWS[name]
        if not math.isfinite(value) and end + tol <= now:
            reasons.append(f"no follower snapshot within {tol} after {end.isoformat()}")
    return reasons


def _int(value: float) -> int | None:
    return int(value) if math.isfinite(value) else None
