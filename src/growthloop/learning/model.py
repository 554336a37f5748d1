"""The Bayesian linear model of expected follows (docs/design.md#learn, #learning). Pure functions over numpy arrays.

Expected follows of a post with features x (one-hot dimension values, the posting hour, topic fatigue):

    log E[follows | x] = c + x . (beta_reach + beta_click + beta_follow)

a sum of three Bayesian (generalised) linear models, each fitted on what measures it best:

    reach    log(impressions)              ~ Normal(x . beta_reach, sigma^2)       from the metrics (robust)
    click    profile clicks | impressions  ~ NegBin(impressions * exp(x . beta_click))   from the metrics
    follow   follows | surrogate           ~ Poisson(surrogate * exp(x . beta_follow))   from the follower
             series through the delay kernel: the conversion fitted by `attribution.attribute`

and the constant c calibrated so that the model's expected follows of the recent posts add up to their
attributed followers. Each part exists only where its data does: without profile clicks the follow part's
surrogate is impressions and there is no click part; without impressions either, the follow part alone
(the follower series; hour features then sit in it). The posterior of the sum is normal with the sum of the
parts' means and covariances (they are fitted on different data), which is what Thompson sampling draws from.

Discounting for drift: every observation is weighted by 0.5 ** (age / half_life), so that old facts weigh
less and the posterior widens again when the world changes. Every prior is normal around 0 (no effect).

    space = FeatureSpace.of(buckets)                      # {dimension: [values]}; hours and fatigue on
    x = space.encode(dimension_rows, hours, topics)       # (n, p) design; topics give the fatigue counts
    w = discount_weights(ages_seconds, half_life_days=7)
    fit = attribute(..., features=x[:, space.follow_columns(surrogate)], weights=w)   # attribution.py
    model = fit_follows_model(space, x, w, fit, attributed, impressions=..., profile_clicks=...)
    model.value_effects()  # per dimension value: expected follows with a 95% credible interval
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from growthloop.defaults import DEFAULT_HALF_LIFE_DAYS
from growthloop.learning.attribution import AttributionFit
from growthloop.learning.attribution import pack_array as _pack
from growthloop.learning.attribution import unpack_array as _unpack

__all__ = [
    "DEFAULT_HALF_LIFE_DAYS",
    "FATIGUE_LAGS",
    "MODEL_NAME",
    "MODEL_VERSION",
    "FeatureSpace",
    "FollowsModel",
    "Posterior",
    "ValueEffect",
    "candidate_fatigue",
    "discount_weights",
    "expected_under",
    "fatigue_counts",
    "fit_count_glm",
    "fit_follows_model",
    "follow_design",
    "fit_gaussian",
]

MODEL_NAME = "bayes_linear"
MODEL_VERSION = "1"
Z95 = 1.959963984540054
Array = NDArray[np.float64]

# Groups of lags (1 = the post just before) over which earlier posts on the same topic are counted.
FATIGUE_LAGS: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16))


@dataclass(frozen=True)
class Posterior:
    """A normal posterior over some coefficients."""

    mean: Array
    cov: Array

    @property
    def sd(self) -> Array:
        return np.sqrt(np.maximum(np.diag(self.cov), 0.0))


@dataclass(frozen=True)
class FeatureSpace:
    """The columns of the design: intercept, one-hot dimension values, UTC hour one-hot, topic fatigue."""

    dimensions: tuple[tuple[str, tuple[str, ...]], ...]
    hours: bool = True
    fatigue_dimension: str | None = "topic"
    fatigue_lags: tuple[tuple[int, int], ...] = FATIGUE_LAGS
    value_prior_sd: float = 0.5
    hour_prior_sd: float = 0.5
    fatigue_prior_sd: float = 0.3
    follow_prior_scale: float = 0.1  # with profile clicks, the follow part's own effects: prior sd x this

    @classmethod
    def of(cls, buckets: Mapping[str, Sequence[str]], **kwargs: Any) -> FeatureSpace:
        dims = tuple((d, tuple(v)) for d, v in buckets.items())
        space = cls(dims, **kwargs)
        if space.fatigue_dimension is not None and space.fatigue_dimension not in dict(dims):
            space = cls(dims, **{**kwargs, "fatigue_dimension": None})
        return space

    @property
    def buckets(self) -> dict[str, tuple[str, ...]]:
        return dict(self.dimensions)

    @property
    def value_slices(self) -> dict[str, slice]:
        out, at = {}, 1
        for dim, values in self.dimensions:
            out[dim] = slice(at, at + len(values))
            at += len(values)
        return out

    @property
    def n_values(self) -> int:
        return sum(len(v) for _, v in self.dimensions)

    @property
    def hour_slice(self) -> slice:
        start = 1 + self.n_values
        return slice(start, start + (24 if self.hours else 0))

    @property
    def fatigue_slice(self) -> slice:
        start = self.hour_slice.stop
        return slice(start, start + (len(self.fatigue_lags) if self.fatigue_dimension else 0))

    @property
    def width(self) -> int:
        width: int = self.fatigue_slice.stop
        return width

    def prior_sd(self) -> Array:
        sd = np.full(self.width, self.value_prior_sd)
        sd[0] = 3.0
        sd[self.hour_slice] = self.hour_prior_sd
        sd[self.fatigue_slice] = self.fatigue_prior_sd
        return sd

    def content_columns(self) -> Array:
        """Columns of the intercept, the dimension values and fatigue (what every part models)."""
        cols = np.ones(self.width, dtype=bool)
        cols[self.hour_slice] = False
        return cols

    def follow_columns(self, surrogate: str) -> Array:
        """Columns of the follow part: the hour sits in the most upstream part there is."""
        cols = self.content_columns()
        if surrogate in ("engagements", "none"):
            cols[self.hour_slice] = True
        return cols

    def encode(
        self,
        rows: Sequence[Mapping[str, str]],
        hours: ArrayLike | None = None,
        fatigue: ArrayLike | None = None,
    ) -> Array:
        """The (n, width) design of posts with these dimension values, UTC hours and fatigue counts.

        `fatigue` is (n, len(fatigue_lags)) as given by `fatigue_counts`; None: no fatigue (zeros).
        A value that is not in the buckets (or a missing dimension) has no column set.
        """
        n = len(rows)
        x = np.zeros((n, self.width))
        x[:, 0] = 1.0
        for dim, sl in self.value_slices.items():
            index = {v: sl.start + i for i, v in enumerate(self.buckets[dim])}
            cols = np.array([index.get(r.get(dim, ""), -1) for r in rows], dtype=np.int64)
            ok = cols >= 0
            x[np.nonzero(ok)[0], cols[ok]] = 1.0
        if self.hours and hours is not None:
            h = np.asarray(hours, dtype=np.int64) % 24
            x[np.arange(n), self.hour_slice.start + h] = 1.0
        if self.fatigue_dimension and fatigue is not None:
            x[:, self.fatigue_slice] = np.asarray(fatigue, dtype=float)
        return x

    def encode_one(self, row: Mapping[str, str], hour: int | None, recent_topics: Sequence[str]) -> Array:
        """One candidate post, after `recent_topics` (oldest first)."""
        fat = None
        if self.fatigue_dimension:
            fat = candidate_fatigue(recent_topics, row.get(self.fatigue_dimension, ""), self.fatigue_lags)[None, :]
        encoded: Array = self.encode([row], None if hour is None else [hour], fat)[0]
        return encoded


def fatigue_counts(topics: Sequence[str], lags: tuple[tuple[int, int], ...] = FATIGUE_LAGS) -> Array:
    """For each post of a sequence (oldest first): earlier posts on its topic, counted per group of lags."""
    n = len(topics)
    codes: dict[str, int] = {}
    arr = np.array([codes.setdefault(t, len(codes)) for t in topics], dtype=np.int64)
    out = np.zeros((n, len(lags)))
    for g, (a, b) in enumerate(lags):
        for lag in range(a, b + 1):
            if lag >= n:
                break
            out[lag:, g] += arr[lag:] == arr[:-lag]
    return out


def candidate_fatigue(recent_topics: Sequence[str], topic: str, lags: tuple[tuple[int, int], ...]) -> Array:
    """Fatigue counts of a next post on `topic` after `recent_topics` (oldest first)."""
    recent = list(recent_topics)
    out = np.zeros(len(lags))
    for g, (a, b) in enumerate(lags):
        for lag in range(a, b + 1):
            if lag <= len(recent) and recent[-lag] == topic:
                out[g] += 1.0
    return out


def discount_weights(ages_seconds: ArrayLike, half_life_days: float | None = 7.0) -> Array:
    """Weight of each observation: 0.5 ** (age / half-life); all 1 without a half-life."""
    age = np.maximum(np.asarray(ages_seconds, dtype=float), 0.0)
    if half_life_days is None or half_life_days <= 0:
        return np.ones_like(age)
    weights: Array = np.power(0.5, age / (half_life_days * 86400.0))
    return weights


# ----------------------------------------------------------------------------------------- the parts


def fit_gaussian(
    x: Array,
    y: Array,
    weights: Array,
    prior_mean: Array,
    prior_sd: Array,
    robust: float = 2.5,
    passes: int = 3,
) -> tuple[Posterior, float]:
    """Bayesian weighted linear regression with a normal prior; noise variance estimated, outliers downweighted.

    `robust`: residuals beyond this many noise sds get Huber weights (a viral post is one post, not a trend).
    Returns the posterior and the noise sd.
    """
    prec0 = 1.0 / prior_sd**2
    h = np.ones(len(y))
    sigma2 = max(float(np.var(y)) if len(y) > 1 else 1.0, 1e-6)
    mean, cov = prior_mean.copy(), np.diag(prior_sd**2)
    gram: Array | None = None  # x' diag(weights * h) x
    was = h
    for _ in range(passes):
        wt = weights * h
        moved = np.nonzero(h != was)[0]
        if gram is None or 2 * len(moved) > len(h):
            gram = (x.T * wt) @ x
        elif len(moved):
            # only the posts whose Huber weight changed (the outliers, a few percent): their difference is
            # added, not the whole window's Gram computed again; the same sum up to rounding (~1e-15 relative)
            xm = x[moved]
            gram = gram + (xm.T * (weights[moved] * (h[moved] - was[moved]))) @ xm
        a = gram / sigma2 + np.diag(prec0)
        b = x.T @ (wt * y) / sigma2 + prec0 * prior_mean
        cov = _inv(a)
        mean = cov @ b
        resid = y - x @ mean
        wsum = float(wt.sum())
        if wsum > 0:
            sigma2 = max(float((wt * resid**2).sum() / max(wsum - 1.0, 1.0)), 1e-6)
        z = np.abs(resid) / math.sqrt(sigma2)
        was, h = h, np.where(z > robust, robust / np.maximum(z, 1e-12), 1.0)
    return Posterior(mean, cov), math.sqrt(sigma2)


def fit_count_glm(
    x: Array,
    y: Array,
    exposure: Array,
    weights: Array,
    prior_mean: Array,
    prior_sd: Array,
    start: Array | None = None,
    dispersion: float | None = None,
    steps: int = 8,
) -> tuple[Posterior, float]:
    """Bayesian negative-binomial (NB2) regression y ~ exposure * exp(x beta), Laplace posterior.

    `dispersion` None: estimated (Pearson, at least 0). Returns the posterior and the dispersion.
    """
    use = exposure > 0
    xu, yu, eu, wu = x[use], y[use], exposure[use], weights[use]
    prec0 = 1.0 / prior_sd**2
    beta = prior_mean.copy() if start is None else start.copy()
    if start is None and eu.sum() > 0:
        beta[0] = math.log(max(float((wu * yu).sum()), 0.5) / float((wu * eu).sum()))
    phi = 0.0 if dispersion is None else dispersion
    cov = np.diag(prior_sd**2)
    for step in range(steps):
        mu = eu * np.exp(np.minimum(xu @ beta, 30.0))
        wt = wu * mu / (1.0 + phi * mu)
        grad = xu.T @ (wu * (yu - mu) / (1.0 + phi * mu)) - prec0 * (beta - prior_mean)
        hess = (xu.T * wt) @ xu + np.diag(prec0)
        cov = _inv(hess)
        delta = cov @ grad
        biggest = float(np.max(np.abs(delta))) if len(delta) else 0.0
        if biggest > 1.0:
            delta /= biggest
        beta = beta + delta
        if dispersion is None and step >= 1:
            mu = eu * np.exp(np.minimum(xu @ beta, 30.0))
            denom = float((wu * mu * mu).sum())
            phi = max(0.0, float((wu * ((yu - mu) ** 2 - mu)).sum()) / denom) if denom > 0 else 0.0
            phi = min(phi, 10.0)
        if biggest < 1e-6:
            break
    return Posterior(beta, cov), phi


def _inv(a: Array) -> Array:
    try:
        return np.asarray(np.linalg.inv(a), dtype=float)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(a), dtype=float)


# ---------------------------------------------------------------------------------------- the whole

# Prior of kappa, the link of follows per click to clicks per impression (see follow_design): a content's
# conversion effect shows in both steps of the funnel, about as much in the second as in the first. The
# follower series corrects it, slowly (after a month of posts its sd is still ~0.5).
LINK_PRIOR = (0.8, 0.15)
SCALE_RANGE = (0.08, 1.0)  # bounds of the learned prior sd of value effects
FOLLOW_SCALE_FLOOR = 0.02  # with profile clicks, the follow part's own effects may be learned to be ~0
LINK_SD_RANGE = (0.05, 1.5)  # bounds of kappa's learned prior sd (learn_link)
DIMENSION_HYPER = 4.0  # scales_per_dimension: the part's scale counts as this many value effects of a dimension


def follow_design(
    space: FeatureSpace, x: Array, surrogate: str, model: FollowsModel | None = None
) -> tuple[Array, Array, Array]:
    """The features of the follow part, for `attribution.attribute(features=..., prior_mean=..., prior_sd=...)`.

    The follow part's columns (`space.follow_columns`), and, when the surrogate is profile clicks, one more:
    the click part's linear predictor of each post (from `model`, 0 before there is one). Its coefficient,
    kappa, links the two: content that brings more profile visits per impression may also turn more visits
    into follows, so the follow part is kappa * (click effects) + its own effects, with kappa learned from
    the follower series (prior N(0, 1)) and the own effects shrunk harder toward 0.
    """
    cols = space.follow_columns(surrogate)
    design = x[:, cols]
    sd = space.prior_sd()[cols]
    mean = np.zeros(design.shape[1])
    values = np.zeros(space.width, dtype=bool)
    for sl in space.value_slices.values():
        values[sl] = True
    values = values[cols]
    if surrogate == "profile_clicks":
        sd[1:] *= space.follow_prior_scale
    if model is not None and "follow" in model.prior_scales:
        full = np.zeros(space.width)
        full[values_full(space)] = model.prior_scales["follow"]
        for dim, sl in space.value_slices.items():  # per dimension where learned (scales_per_dimension)
            full[sl] = model.prior_scales.get(f"follow:{dim}", full[sl.start])
        sd[values] = full[cols][values]
    if surrogate != "profile_clicks":
        return design, mean, sd
    link = np.zeros(x.shape[0])
    if model is not None and "click" in model.parts:
        beta = model.parts["click"].mean.copy()
        beta[0] = 0.0
        link = x @ beta
    link_sd = LINK_PRIOR[1] if model is None else model.prior_scales.get("link", LINK_PRIOR[1])
    return (
        np.column_stack([design, link]),
        np.append(mean, LINK_PRIOR[0]),
        np.append(sd, link_sd),
    )


def values_full(space: FeatureSpace) -> Array:
    """The columns of the dimension values (all dimensions), over the whole design."""
    cols = np.zeros(space.width, dtype=bool)
    for sl in space.value_slices.values():
        cols[sl] = True
    return cols


def link_prior_sd(mean: float, var: float, hyper: float = 1.0) -> float:
    """Empirical Bayes for kappa's prior sd (`learn_link`): the EM update of the prior variance given kappa's
    posterior (mean, var), with the fixed prior N(LINK_PRIOR) as an inverse-gamma hyper-prior of weight
    `hyper` (pseudo-observations at LINK_PRIOR's variance):
        tau^2 = (hyper * sd0^2 + (mean - mean0)^2 + var) / (hyper + 1).
    Where the follower series keeps kappa near 0.8 the prior stays near 0.15; where it pulls kappa away
    the prior widens, so kappa follows the data. Bounded by LINK_SD_RANGE."""
    mean0, sd0 = LINK_PRIOR
    tau2 = (hyper * sd0**2 + (mean - mean0) ** 2 + var) / (hyper + 1.0)
    return float(np.clip(math.sqrt(tau2), LINK_SD_RANGE[0], LINK_SD_RANGE[1]))


@dataclass(frozen=True)
class ValueEffect:
    """What the model says about one dimension value (a row of a performance table)."""

    dimension: str
    value: str
    expected_follows: float  # per post with this value, other dimensions uniform, hour average, no fatigue
    ci_low: float  # 95% credible interval of it
    ci_high: float
    log_effect: float  # log multiplier of expected follows against the dimension's average value
    log_sd: float
    confidence: float  # how far the data narrowed the prior: 1 - posterior sd / prior sd, in [0, 1]


@dataclass(frozen=True)
class FollowsModel:
    """log E[follows | x] = constant + x . coefficients, with a normal posterior over the coefficients."""

    space: FeatureSpace
    posterior: Posterior  # over all columns (column 0 holds the calibrated constant)
    parts: dict[str, Posterior] = field(default_factory=dict)  # "reach", "click", "follow": each over all columns
    sampling_cov: Array | None = None  # what Thompson sampling draws from (None: the posterior's covariance)
    prior_scales: dict[str, float] = field(default_factory=dict)  # per part: the value effects' prior sd (EB)
    surrogate: str = "none"
    n_posts: int = 0
    notes: tuple[str, ...] = ()
    changed_at: float | None = None  # the last change point (learning.drift): facts before it weigh less
    model_name: str = MODEL_NAME
    model_version: str = MODEL_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, to store between the learn and plan jobs (`from_dict` reads it back)."""
        sp = self.space
        return {
            "model": self.model_name,
            "version": self.model_version,
            "space": {
                "dimensions": [[d, list(v)] for d, v in sp.dimensions],
                "hours": sp.hours,
                "fatigue_dimension": sp.fatigue_dimension,
                "fatigue_lags": [list(g) for g in sp.fatigue_lags],
            },
            "mean": _pack(self.posterior.mean),
            "cov": _pack(self.posterior.cov),
            "sampling_cov": None if self.sampling_cov is None else _pack(self.sampling_cov),
            "parts": {k: _pack_part(p) for k, p in self.parts.items()},
            "prior_scales": dict(self.prior_scales),
            "surrogate": self.surrogate,
            "n_posts": self.n_posts,
            "notes": list(self.notes),
            "changed_at": self.changed_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FollowsModel:
        sp = data["space"]
        space = FeatureSpace(
            tuple((d, tuple(v)) for d, v in sp["dimensions"]),
            hours=bool(sp["hours"]),
            fatigue_dimension=sp["fatigue_dimension"],
            fatigue_lags=tuple((int(a), int(b)) for a, b in sp["fatigue_lags"]),
        )

        def post(d: Mapping[str, Any]) -> Posterior:
            mean, cov = _unpack(d["mean"]), _unpack(d["cov"])
            if "cols" not in d:
                return Posterior(mean, cov)
            # a part over some columns: zeros elsewhere, as it was fitted (`_pack_part`)
            cols, width = np.asarray(d["cols"], dtype=np.int64), int(d["width"])
            full_mean, full_cov = np.zeros(width), np.zeros((width, width))
            full_mean[cols] = mean
            full_cov[np.ix_(cols, cols)] = cov
            return Posterior(full_mean, full_cov)

        sampling = data.get("sampling_cov")
        return cls(
            space,
            post(data),
            {k: post(v) for k, v in data.get("parts", {}).items()},
            None if sampling is None else _unpack(sampling),
            {k: float(v) for k, v in data.get("prior_scales", {}).items()},
            str(data.get("surrogate", "none")),
            int(data.get("n_posts", 0)),
            tuple(data.get("notes", ())),
            None if data.get("changed_at") is None else float(data["changed_at"]),
        )

    def log_expected(self, x: Array) -> Array:
        return np.asarray(x, dtype=float) @ self.posterior.mean

    def expected(self, x: Array) -> Array:
        return np.exp(self.log_expected(x))

    def hour_log_effects(self) -> Array:
        """The log multiplier of each UTC hour (zeros without hour features)."""
        sl = self.space.hour_slice
        return self.posterior.mean[sl] if sl.stop > sl.start else np.zeros(24)

    def baseline_log(self) -> float:
        """log E[follows] of a post with every dimension uniform, the hour average, no fatigue."""
        m = self.posterior.mean
        total = float(m[0])
        for sl in self.space.value_slices.values():
            total += float(np.log(np.mean(np.exp(m[sl]))))
        hs = self.space.hour_slice
        if hs.stop > hs.start:
            total += float(np.log(np.mean(np.exp(m[hs]))))
        return total

    def value_effects(self) -> dict[str, list[ValueEffect]]:
        """Per dimension, each value's expected follows per post (others uniform) with a 95% interval."""
        m, cov = self.posterior.mean, self.posterior.cov
        prior = self.space.prior_sd()
        n_parts = max(1, len(self.parts))
        base = self.baseline_log()
        out: dict[str, list[ValueEffect]] = {}
        for dim, sl in self.space.value_slices.items():
            block = m[sl]
            # expected follows of a post with value v: everything else as in the baseline
            rest = base - float(np.log(np.mean(np.exp(block))))
            centred = block - float(np.log(np.mean(np.exp(block))))
            # the sd of each value against the dimension's average: the shared level is not about the value
            k = sl.stop - sl.start
            centre = np.eye(k) - np.full((k, k), 1.0 / k)
            sds = np.sqrt(np.maximum(np.diag(centre @ cov[sl, sl] @ centre), 0.0))
            rows = []
            for i, value in enumerate(self.space.buckets[dim]):
                log_mean = rest + float(block[i])
                sd = float(sds[i])
                prior_sd = float(prior[sl][i]) * math.sqrt(n_parts * (k - 1) / k)
                rows.append(
                    ValueEffect(
                        dimension=dim,
                        value=value,
                        expected_follows=math.exp(log_mean),
                        ci_low=math.exp(log_mean - Z95 * sd),
                        ci_high=math.exp(log_mean + Z95 * sd),
                        log_effect=float(centred[i]),
                        log_sd=sd,
                        confidence=float(min(1.0, max(0.0, 1.0 - sd / prior_sd))) if prior_sd > 0 else 1.0,
                    )
                )
            out[dim] = rows
        return out


def _pack_part(post: Posterior) -> dict[str, Any]:
    """A part's posterior as JSON: over the columns it was fitted on only (the click and follow parts leave the
    hours out, a third of the model's bytes), the rest being exact zeros that `from_dict` puts back."""
    mean_set = (post.mean != 0) | np.signbit(post.mean)  # a -0.0 is kept as it is
    cov_set = (post.cov != 0) | np.signbit(post.cov)
    cov = post.cov
    used = np.nonzero(mean_set | cov_set.any(axis=0) | cov_set.any(axis=1))[0]
    if len(used) == len(post.mean):
        return {"mean": _pack(post.mean), "cov": _pack(cov)}
    return {
        "cols": used.tolist(),
        "width": len(post.mean),
        "mean": _pack(post.mean[used]),
        "cov": _pack(cov[np.ix_(used, used)]),
    }


def fit_follows_model(
    space: FeatureSpace,
    x: Array,
    weights: Array,
    conversion: AttributionFit,
    attributed: Array,
    *,
    impressions: ArrayLike | None = None,
    profile_clicks: ArrayLike | None = None,
    engagements: ArrayLike | None = None,
    completeness: ArrayLike | None = None,
    attributed_sd: ArrayLike | None = None,
    previous: FollowsModel | None = None,
    changed_at: float | None = None,
    learn_link: bool = False,
    scales_per_dimension: bool = False,
) -> FollowsModel:
    """Combine the parts into the model of expected follows (see the module docstring).

    x           (n, space.width) design of the posts (`space.encode`)
    weights     (n,) discount weights
    conversion  the attribution's fit: its theta is the follow part over `space.follow_columns(surrogate)`
    attributed  (n,) attributed followers per post (to calibrate the constant); attributed_sd their sds
    impressions, profile_clicks, engagements  (n,) latest counters (NaN: none yet); None: the platform has none
    completeness  (n,) share of each post's final counters visible now (default 1)
    previous    the last model, whose coefficients start this fit
    changed_at  the last change point the weights account for (`learning.drift`), kept with the model
    learn_link  learn kappa's prior sd by empirical Bayes (`link_prior_sd`), kept as prior_scales["link"]
    scales_per_dimension  the value effects' prior sd per part and dimension, shrunk toward the part's
                (prior_scales["part:dimension"], DIMENSION_HYPER pseudo-values of the part's scale)
    """
    n = x.shape[0]
    w = np.asarray(weights, dtype=float)
    comp = np.ones(n) if completeness is None else np.clip(np.asarray(completeness, dtype=float), 1e-3, 1.0)
    width = space.width
    prior_sd = space.prior_sd()
    zero = np.zeros(width)
    content = space.content_columns()
    parts: dict[str, Posterior] = {}
    notes: list[str] = []
    surrogate = conversion.surrogate

    def embed(cols: Array, post: Posterior) -> Posterior:
        mean = np.zeros(width)
        cov = np.zeros((width, width))
        idx = np.nonzero(cols)[0]
        mean[idx] = post.mean
        cov[np.ix_(idx, idx)] = post.cov
        return Posterior(mean, cov)

    def start_of(name: str, cols: Array) -> Array | None:
        if previous is None or name not in previous.parts:
            return None
        start: Array = previous.parts[name].mean[cols]
        return start

    scales: dict[str, float] = {}
    value_cols = np.zeros(width, dtype=bool)
    for sl in space.value_slices.values():
        value_cols[sl] = True

    def prior_of(name: str) -> Array:
        """The prior sds of a part: its value effects' sd is learned across runs (empirical Bayes)."""
        sd = prior_sd.copy()
        if previous is not None and name in previous.prior_scales:
            sd[value_cols] = previous.prior_scales[name]
            for dim, sl in space.value_slices.items():
                sd[sl] = previous.prior_scales.get(f"{name}:{dim}", sd[sl.start])
        return sd

    def learn_scale(name: str, post: Posterior, cols: Array, low: float = SCALE_RANGE[0]) -> None:
        """EM update of the value effects' prior variance: the mean of their centred posterior second moments."""
        full = embed(cols, post)
        total, count = 0.0, 0
        per_dim: dict[str, tuple[float, int]] = {}
        for dim, sl in space.value_slices.items():
            k = sl.stop - sl.start
            if k < 2:
                continue
            centre = np.eye(k) - np.full((k, k), 1.0 / k)
            m = centre @ full.mean[sl]
            moment = float(m @ m) + float(np.trace(centre @ full.cov[sl, sl] @ centre))
            per_dim[dim] = (moment, k - 1)
            total += moment
            count += k - 1
        if count:
            scales[name] = float(np.clip(math.sqrt(total / count), low, SCALE_RANGE[1]))
            if scales_per_dimension:  # hierarchical: each dimension's scale shrunk toward the part's
                part2 = scales[name] ** 2
                for dim, (moment, dof) in per_dim.items():
                    tau2 = (DIMENSION_HYPER * part2 + moment) / (DIMENSION_HYPER + dof)
                    scales[f"{name}:{dim}"] = float(np.clip(math.sqrt(tau2), low, SCALE_RANGE[1]))

    impr = None if impressions is None else np.asarray(impressions, dtype=float)
    if surrogate in ("profile_clicks", "impressions") and impr is not None:
        ok = np.isfinite(impr) & (w > 0)
        cols = np.ones(width, dtype=bool)  # reach carries the hour
        y = np.log(np.maximum(impr[ok], 0.0) / comp[ok] + 1.0)
        post, _sigma = fit_gaussian(x[ok][:, cols], y, w[ok] * comp[ok], zero[cols], prior_of("reach")[cols])
        parts["reach"] = embed(cols, post)
        learn_scale("reach", post, cols)

    def count_part(name: str, cols: Array, counts: Array, exposure: Array, ok: Array) -> None:
        """A negative-binomial part: `counts` per unit of `exposure` over the columns `cols`."""
        post, _phi = fit_count_glm(
            x[ok][:, cols],
            counts[ok],
            exposure[ok],
            w[ok],
            zero[cols],
            prior_of(name)[cols],
            start=start_of(name, cols),
        )
        parts[name] = embed(cols, post)
        learn_scale(name, post, cols)

    if surrogate == "profile_clicks" and impr is not None and profile_clicks is not None:
        clicks = np.asarray(profile_clicks, dtype=float)
        count_part("click", content, clicks, impr, np.isfinite(impr) & np.isfinite(clicks) & (impr > 0) & (w > 0))
    if surrogate == "engagements" and engagements is not None:
        eng = np.asarray(engagements, dtype=float)
        count_part("engagement", np.ones(width, dtype=bool), eng, comp, np.isfinite(eng) & (w > 0))
    follow_cols = space.follow_columns(surrogate)
    nf = int(follow_cols.sum())
    kappa, kappa_var = 0.0, 0.0
    if conversion.theta.shape == (nf,):
        parts["follow"] = embed(follow_cols, Posterior(conversion.theta, conversion.theta_cov))
        learn_scale("follow", Posterior(conversion.theta, conversion.theta_cov), follow_cols)
    elif conversion.theta.shape == (nf + 1,):
        own = Posterior(conversion.theta[:nf], conversion.theta_cov[:nf, :nf])
        parts["follow"] = embed(follow_cols, own)
        learn_scale("follow", own, follow_cols, low=FOLLOW_SCALE_FLOOR)
        kappa, kappa_var = float(conversion.theta[nf]), float(conversion.theta_cov[nf, nf])
        if learn_link:
            scales["link"] = link_prior_sd(kappa, kappa_var)
    else:
        notes.append("the attribution's conversion does not match the feature space: no follow part")

    mean = np.zeros(width)
    cov = np.zeros((width, width))
    sampling = np.zeros((width, width))
    for name, post in parts.items():
        if name == "click":
            # follows per click move with clicks per impression by kappa (see follow_design)
            scale = 1.0 + kappa
            b = post.mean.copy()
            b[0] = 0.0
            mean += scale * post.mean - kappa * post.mean[0] * (np.arange(width) == 0)
            cov += scale**2 * post.cov + kappa_var * np.outer(b, b)
            sampling += scale**2 * post.cov
        else:
            mean += post.mean
            cov += post.cov
            if name != "follow" or len(parts) == 1 or "click" not in parts:
                sampling += post.cov
    # Thompson sampling draws what the data can settle. With profile clicks, the follow part's own effects
    # and kappa are measured only through the follower series, which after a month still barely moves them:
    # drawing them would explore without ever learning, so they enter the draws at their posterior mean.
    # The constant: the model's expected follows of the (weighted) posts equal their attributed followers.
    att = np.asarray(attributed, dtype=float)
    ok = np.isfinite(att) & (w > 0)
    pred = np.exp(np.minimum(x[ok] @ mean, 30.0))
    total_pred = float((w[ok] * pred).sum())
    total_att = float((w[ok] * np.maximum(att[ok], 0.0)).sum())
    if total_pred > 0 and total_att > 0:
        mean[0] += math.log(total_att / total_pred)
        # the level's uncertainty: that of the (weighted) attributed total, Poisson where no sd is given
        sd = np.asarray(attributed_sd, dtype=float)[ok] if attributed_sd is not None else None
        spread = sd**2 if sd is not None else np.maximum(att[ok], 0.0)
        cov[0, 0] += float((w[ok] ** 2 * np.nan_to_num(spread)).sum()) / total_att**2
    elif total_pred > 0:
        mean[0] += math.log(0.5 / max(total_pred, 1e-9))
        cov[0, 0] += 1.0
        notes.append("no attributed followers yet: the level is a guess")
    return FollowsModel(space, Posterior(mean, cov), parts, sampling, scales, surrogate, n, tuple(notes), changed_at)


def expected_under(
    model: FollowsModel,
    distribution: Mapping[str, ArrayLike],
    hour: int | None = None,
    recent_topics: Sequence[str] = (),
) -> float:
    """The model's expected follows of the next post when its values are drawn from `distribution`.

    `distribution`: per dimension, the probabilities of its buckets (a factorised policy's choice, as
    `Policy.distribution` gives). The model being log-linear, the expectation is a product over dimensions;
    the topic's term carries its fatigue after `recent_topics` (oldest first). The hour: its effect, or the
    average hour's when None.
    """
    space = model.space
    m = model.posterior.mean
    log_total = float(m[0])
    hs = space.hour_slice
    if hs.stop > hs.start:
        log_total += float(m[hs.start + hour % 24]) if hour is not None else float(np.log(np.mean(np.exp(m[hs]))))
    total = math.exp(log_total)
    fs = space.fatigue_slice
    for dim, sl in space.value_slices.items():
        p = np.asarray(distribution[dim], dtype=float)
        effects = m[sl].copy()
        if dim == space.fatigue_dimension and fs.stop > fs.start:
            fat = np.stack([candidate_fatigue(recent_topics, v, space.fatigue_lags) for v in space.buckets[dim]])
            effects = effects + fat @ m[fs]
        total *= float(p @ np.exp(effects)) / max(float(p.sum()), 1e-12)
    return total
