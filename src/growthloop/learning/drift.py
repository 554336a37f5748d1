"""Change points: when the recent posts of one dimension value stop doing what the model expects
(docs/design.md#learning).

Discounting alone adapts slowly: with a half-life of a week, a value that was the best for twelve days and
then lost most of its reach keeps its old estimate for days, and the policy keeps posting it. So before each
fit the last model is checked against the posts since: per dimension value, the residuals of its posts'
reach (log impressions) and profile clicks (per impression). A mean shift of more than `CHANGE_Z` standard
errors, starting anywhere in the last `LOOKBACK` (the most likely start by a CUSUM scan), is a change. The
fit then weighs everything before the start by `FORGET` on top of the discount, so that the posterior widens
and the policy explores again; the model keeps the time (`FollowsModel.changed_at`) for the next fits.

    change = detect_change(previous, x, times, now, impressions=..., profile_clicks=..., completeness=...)
    changed_at = change.at if change else (previous.changed_at if previous else None)
    w = drift_weights(times, now, half_life_days, changed_at)

A world that changes only how followers convert per profile click is not seen here: that shows in the
follower series alone, too slowly to test per value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from growthloop.defaults import DEFAULT_CHANGE_Z
from growthloop.learning.model import FollowsModel, discount_weights

__all__ = ["CHANGE_Z", "FORGET", "LOOKBACK", "Change", "detect_change", "drift_weights"]

Array = NDArray[np.float64]
# standard errors: checked for ~66 values every run, a false alarm should be rarer than monthly (5 fired in 5 of
# 50 stationary bench runs; the drift world's change measures 6.4-7.4 at its first check)
CHANGE_Z = DEFAULT_CHANGE_Z
FORGET = 0.02  # weight of the facts before a change, on top of their discount
LOOKBACK = 3 * 86400.0  # a change may have started this long ago
MIN_POSTS = 8  # posts of a value after the start, at least
MIN_SHIFT = 0.2  # log: a smaller shift is left to the discount (misfits of that size are common, not changes)
MATURE = 0.5  # a post's counters are compared once this share of them is visible
CLIP = 3.0  # reach residuals beyond this many sds count as this many: a viral post is not a change
BEFORE = 4 * 86400.0  # against_before: a value's later posts are compared with its posts of this long before


@dataclass(frozen=True)
class Change:
    """A detected change: the facts before `at` are down-weighted."""

    at: float  # seconds since the epoch: the first post of the value that no longer fits
    dimension: str
    value: str
    part: str  # "reach" (impressions) or "click" (profile clicks per impression)
    z: float  # the shift in standard errors (negative: the value does worse than the model expects)
    posts: int

    def describe(self) -> str:
        shift = f"{self.z:+.1f} standard errors"
        return f"{self.dimension}={self.value} {self.part} shifted by {shift} over its last {self.posts} posts"


def drift_weights(times: ArrayLike, now: float, half_life_days: float | None, changed_at: float | None) -> Array:
    """The discount by age, and `FORGET` more for facts from before the last change."""
    w = discount_weights(now - np.asarray(times, dtype=float), half_life_days)
    if changed_at is not None:
        w = np.where(np.asarray(times) < changed_at, FORGET * w, w)
    return w


def detect_change(
    model: FollowsModel | None,
    x: Array,
    times: ArrayLike,
    now: float,
    *,
    impressions: Array | None,
    profile_clicks: Array | None,
    completeness: Array,
    against_before: bool = False,
    threshold: float | None = None,
) -> Change | None:
    """The strongest change since the model's last one, if any is beyond `threshold` standard errors
    (`CHANGE_Z` by default; see the module).

    `against_before`: a value's later posts are compared with its own posts of the `BEFORE` before the
    start (their residuals against the same model), not with the model alone: a misfit the model has all
    along (an interaction, a fatigue it approximates) is in both and cancels; a change is in one. With
    fewer than `MIN_POSTS` posts before, the value is compared with the model as without it."""
    if model is None or impressions is None or "reach" not in model.parts:
        return None
    t = np.asarray(times, dtype=float)
    impr = np.asarray(impressions, dtype=float)
    comp = np.asarray(completeness, dtype=float)
    limit = CHANGE_Z if threshold is None else threshold
    since = max(now - LOOKBACK, model.changed_at if model.changed_at is not None else -math.inf)
    mature = np.isfinite(impr) & (comp >= MATURE)
    recent = mature & (t >= since)
    # the posts a value's later ones are compared with (against_before): those of the BEFORE before
    earlier = mature & (t >= since - BEFORE) & (t >= (model.changed_at or -math.inf)) if against_before else None
    if recent.sum() < MIN_POSTS:
        return None
    parts = [_reach_residuals(model, x, impr, comp, mature, recent)]
    if profile_clicks is not None and "click" in model.parts:
        parts.append(_click_residuals(model, x, impr, np.asarray(profile_clicks, dtype=float), mature, recent))
    # Only the posts since the lookback's start (and the BEFORE before it) are scanned: the window's older
    # posts enter through the residuals' sd and the dispersion above only, so the scans read a slice of a
    # few days, not 60 days of rows for each of the ~66 values (the same rows in the same order: exact).
    sel = np.nonzero(recent | earlier if earlier is not None else recent)[0]
    xs, ts, recent_s = x[sel], t[sel], recent[sel]
    earlier_s = earlier[sel] if earlier is not None else None
    best: Change | None = None
    for part in parts:
        if part is None:
            continue
        part = part.rows(sel)
        base = recent_s & part.ok
        maybe = _may_shift(part, xs, base, limit) if earlier_s is None else None
        for dim, sl in model.space.value_slices.items():
            for i, col in enumerate(range(sl.start, sl.stop)):
                if maybe is not None and not maybe[col]:
                    continue  # not even against the noise alone (as `_scan`'s first test, for every value at once)
                has = xs[:, col] > 0
                group = base & has
                if earlier_s is not None:
                    found = _scan_before(part, xs, ts, group, earlier_s & part.ok & has, limit)
                else:
                    found = _scan(part, xs, ts, group, limit)
                if found is not None and (best is None or abs(found[1]) > abs(best.z)):
                    best = Change(found[0], dim, model.space.buckets[dim][i], part.name, found[1], found[2])
    return best


@dataclass(frozen=True)
class _Residuals:
    """Per post, what the model is checked on. Reach: the residual of log impressions and its noise variance.
    Clicks: the observed and the expected profile clicks (summed over posts before comparing)."""

    name: str
    resid: Array
    noise: Array
    ok: NDArray[np.bool_]
    cov: Array  # the part's posterior covariance: what the model itself does not know
    dispersion: float = 0.0  # clicks: phi of the negative binomial (variance E + phi E^2)

    def rows(self, sel: NDArray[np.intp]) -> _Residuals:
        """The same residuals of the posts `sel` only."""
        return _Residuals(self.name, self.resid[sel], self.noise[sel], self.ok[sel], self.cov, self.dispersion)


def _reach_residuals(
    model: FollowsModel, x: Array, impr: Array, comp: Array, mature: NDArray[np.bool_], recent: NDArray[np.bool_]
) -> _Residuals | None:
    """Log impressions against the reach part; a viral post counts as no more than `CLIP` sds."""
    part = model.parts["reach"]
    y = np.log(np.maximum(np.where(mature, impr, 0.0), 0.0) / np.maximum(comp, 1e-3) + 1.0)
    resid = y - x @ part.mean
    sd = _robust_sd(resid[mature & ~recent]) or _robust_sd(resid[mature])
    if not sd:
        return None
    resid = np.clip(resid, -CLIP * sd, CLIP * sd)
    return _Residuals("reach", resid, np.full(len(y), sd**2), mature, part.cov)


def _click_residuals(
    model: FollowsModel,
    x: Array,
    impr: Array,
    clicks: Array,
    mature: NDArray[np.bool_],
    recent: NDArray[np.bool_],
) -> _Residuals | None:
    """Profile clicks against what the click part expects of the posts' impressions, and the dispersion."""
    part = model.parts["click"]
    ok = mature & np.isfinite(clicks) & (impr > 0)
    expected = np.where(ok, np.maximum(impr, 0.0) * np.exp(np.minimum(x @ part.mean, 30.0)), 0.0)
    ok &= expected > 0
    if ok.sum() < MIN_POSTS:
        return None
    observed = np.nan_to_num(clicks)
    ref = ok & ~recent
    # negative binomial: variance E + phi E^2; a post's rate varies, so a big post is not many small ones
    denom = float((expected[ref] ** 2).sum())
    phi = max(0.0, float(((observed[ref] - expected[ref]) ** 2 - expected[ref]).sum()) / denom) if denom > 0 else 0.0
    return _Residuals("click", np.where(ok, observed, 0.0), np.where(ok, expected, 0.0), ok, part.cov, phi)


def _may_shift(part: _Residuals, x: Array, base: NDArray[np.bool_], limit: float) -> NDArray[np.bool_]:
    """Per column of `x`: whether `_scan` of its posts among `base` might find a change, by its first test
    (the shift against the noise alone, without the model's uncertainty) for every column at once. The sums
    run over all rows with zeros outside each group, the same partial sums as `_scan`'s over the group's
    rows; the limit is lowered by 1e-9 so that no rounding can skip a value `_scan` would report."""
    member = base[:, None] & (x > 0)
    m = member.astype(float)

    def later(a: Array) -> Array:
        sums: Array = np.cumsum((m * a[:, None])[::-1], axis=0)[::-1]
        return sums

    count: Array = np.cumsum(m[::-1], axis=0)[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        if part.name == "click":
            e = part.noise
            observed, expected = later(part.resid), np.maximum(later(e), 0.5)
            shift = np.log(np.maximum(observed, 0.5) / expected)
            gap, noise = observed - expected, later(e + part.dispersion * e**2)
        else:
            shift = later(part.resid) / count
            gap, noise = shift, later(part.noise) / count**2
        counts = member & (count >= MIN_POSTS) & (np.abs(shift) >= MIN_SHIFT)
        ratio = np.abs(gap) / np.sqrt(noise)
    found: NDArray[np.bool_] = np.asarray((counts & ~(ratio < limit * (1.0 - 1e-9))).any(axis=0), dtype=bool)
    return found


def _scan(
    part: _Residuals, x: Array, t: Array, group: NDArray[np.bool_], limit: float = CHANGE_Z
) -> tuple[float, float, int] | None:
    """The start, among the group's posts, after which they are furthest from the model, in standard errors.

    For every possible start, the later posts' mean residual is set against its standard error: their noise
    and the model's own uncertainty about them (x-bar' cov x-bar). A value the model knows little about does
    not count as changed when it turns out other than guessed. Shifts under `MIN_SHIFT` (log) are ignored.
    """
    idx = np.nonzero(group)[0]
    if len(idx) < MIN_POSTS:
        return None
    idx = idx[np.argsort(t[idx])]
    count = np.arange(len(idx), 0, -1, dtype=float)

    def later(a: Array) -> Array:
        """Sums from each post to the newest."""
        sums: Array = np.cumsum(a[::-1], axis=0)[::-1]
        return sums

    if part.name == "click":
        # the later posts' clicks against their expectation, tested on the count scale (a log ratio of a few
        # clicks is far from normal); noise: negative binomial; the shift, for MIN_SHIFT, as a log ratio
        e = part.noise[idx]
        observed, expected = later(part.resid[idx]), np.maximum(later(e), 0.5)
        shift = np.log(np.maximum(observed, 0.5) / expected)
        gap, noise, scale = observed - expected, later(e + part.dispersion * e**2), expected**2
    else:
        shift = later(part.resid[idx]) / count
        gap, noise, scale = shift, later(part.noise[idx]) / count**2, np.ones(len(idx))
    counts = (count >= MIN_POSTS) & (np.abs(shift) >= MIN_SHIFT)
    if not counts.any() or np.max(np.abs(gap[counts]) / np.sqrt(noise[counts])) < limit:
        return None  # not even against the noise alone: the model's own uncertainty can only lower it
    xbar = later(x[idx]) / count[:, None]
    model_var = np.einsum("ij,jk,ik->i", xbar, part.cov, xbar)
    z = np.where(counts, gap / np.sqrt(noise + model_var * scale), 0.0)
    k = int(np.argmax(np.abs(z)))
    if abs(z[k]) < limit:
        return None
    return float(t[idx[k]]), float(z[k]), int(count[k])


def _scan_before(
    part: _Residuals, x: Array, t: Array, group: NDArray[np.bool_], earlier: NDArray[np.bool_], limit: float
) -> tuple[float, float, int] | None:
    """As `_scan`, but the later posts are set against the value's own posts of the `BEFORE` before the
    start (`earlier`, which includes the group's earlier posts): the shift between the two, in standard
    errors of both (reach: their mean residuals; clicks: the later posts' clicks against their expectation
    times the earlier posts' ratio of clicks to expected). The model's uncertainty enters through the
    difference of the two sets' mean designs. Starts with fewer than MIN_POSTS posts before: as `_scan`."""
    idx = np.nonzero(group)[0]
    if len(idx) < MIN_POSTS:
        return None
    idx = idx[np.argsort(t[idx])]
    pool = np.nonzero(earlier | group)[0]
    pool = pool[np.argsort(t[pool])]
    tp = t[pool]
    count = np.arange(len(idx), 0, -1, dtype=float)

    def later(a: Array) -> Array:
        sums: Array = np.cumsum(a[::-1], axis=0)[::-1]
        return sums

    def window(a: Array) -> Array:
        """Per start: the sum of `a` over the pool's posts in [start - BEFORE, start)."""
        c = np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a, axis=0)])
        hi = np.searchsorted(tp, t[idx], side="left")
        lo = np.searchsorted(tp, t[idx] - BEFORE, side="left")
        out: Array = c[hi] - c[lo]
        return out

    nb = window(np.ones(len(pool)))
    xa = later(x[idx]) / count[:, None]
    xb = window(x[pool]) / np.maximum(nb, 1.0)[:, None]
    if part.name == "click":
        e = part.noise[idx]
        observed, expected = later(part.resid[idx]), np.maximum(later(e), 0.5)
        eb_ = part.noise[pool]
        ob, exb = window(part.resid[pool]), np.maximum(window(eb_), 0.5)
        ratio = np.where(nb >= MIN_POSTS, np.maximum(ob, 0.5) / exb, 1.0)
        ratio_var = np.where(nb >= MIN_POSTS, window(eb_ + part.dispersion * eb_**2) / exb**2, 0.0)
        shift = np.log(np.maximum(observed, 0.5) / (expected * ratio))
        gap = observed - expected * ratio
        noise = later(e + part.dispersion * e**2) + expected**2 * ratio_var
        scale = (expected * ratio) ** 2
    else:
        mean_a = later(part.resid[idx]) / count
        mean_b = np.where(nb >= MIN_POSTS, window(part.resid[pool]) / np.maximum(nb, 1.0), 0.0)
        shift = gap = mean_a - mean_b
        noise_b = np.where(nb >= MIN_POSTS, window(part.noise[pool]) / np.maximum(nb, 1.0) ** 2, 0.0)
        noise = later(part.noise[idx]) / count**2 + noise_b
        scale = np.ones(len(idx))
    diff = np.where((nb >= MIN_POSTS)[:, None], xa - xb, xa)  # without posts before: against the model alone
    counts = (count >= MIN_POSTS) & (np.abs(shift) >= MIN_SHIFT)
    if not counts.any() or np.max(np.abs(gap[counts]) / np.sqrt(noise[counts])) < limit:
        return None
    model_var = np.einsum("ij,jk,ik->i", diff, part.cov, diff)
    z = np.where(counts, gap / np.sqrt(noise + model_var * scale), 0.0)
    k = int(np.argmax(np.abs(z)))
    if abs(z[k]) < limit:
        return None
    return float(t[idx[k]]), float(z[k]), int(count[k])


def _robust_sd(r: Array) -> float | None:
    r = r[np.isfinite(r)]
    if len(r) < MIN_POSTS:
        return None
    mad = float(np.median(np.abs(r - np.median(r))))
    return 1.4826 * mad if mad > 0 else None
