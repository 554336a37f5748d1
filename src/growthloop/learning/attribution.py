"""Attribution: which posts brought the followers (docs/design.md#attribute, #learning). Pure functions over
numpy arrays.

Two models, each with a name and a version to store beside every figure it produces:

`attribute(...)` -> `Attribution` (MODEL_NAME "delay_kernel", MODEL_VERSION "1")
    The follower series is explained by the posts through a delay kernel, plus organic follows and churn:

        follows caused by post i    ~ Poisson(lambda_i),  lambda_i = exposure_i * exp(x_i . theta)
        each follow arrives at      t_i + delay,  delay ~ kernel (a gamma truncated to [0, max_hours])
        organic follows             ~ Poisson(organic rate * dt)
        unfollows                   ~ Poisson(churn rate * followers * dt)
        snapshot increment          = arrivals - unfollows over the interval between two snapshots

    `exposure_i` is the post's most downstream surrogate: profile clicks where the platform gives them, else
    impressions, else engagements (likes + reposts + replies + quotes + bookmarks), else 1 (the follower series
    alone). `exp(x . theta)` is the conversion rate per unit of surrogate, which depends on the content
    through the features `x` (one-hot dimension values, ...); theta has a normal prior. The parameters (theta,
    the organic and churn rates, optionally the kernel) are fitted by EM: the E-step shares every snapshot
    increment among the posts whose kernel covers it, in proportion to lambda_i * kernel mass, and
    organic; the M-step is a Bayesian Poisson regression of the shares on the features. Each post's figure is
    the posterior mean of its follows: the arrivals shared to it, plus the expected arrivals the series does
    not show yet (after the last snapshot) or did not show (before the first); with a standard deviation.
    Snapshots may be irregular and have gaps: an interval is whatever lies between two snapshots.

`naive_windows(...)` -> `NaiveWindows` (NAIVE_NAME "naive_window", NAIVE_VERSION "1")
    The seed's design: each post is credited with the whole follower change in its 2, 24 and 48 hour windows.
    At 2 posts an hour a 48 hour window holds ~96 posts, so every post gets everyone's followers.

Times are seconds (any epoch, e.g. `datetime.timestamp()`); counts are numbers; missing values are NaN.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = [
    "MODEL_NAME",
    "MODEL_VERSION",
    "NAIVE_NAME",
    "NAIVE_VERSION",
    "SURROGATES",
    "Attribution",
    "AttributionFit",
    "DelayKernel",
    "NaiveWindows",
    "attribute",
    "choose_surrogate",
    "discount_weights_at",
    "estimate_completeness",
    "naive_windows",
]

MODEL_NAME = "delay_kernel"
MODEL_VERSION = "1"
NAIVE_NAME = "naive_window"
NAIVE_VERSION = "1"

# The surrogates in order of preference: the closer to a follow, the more it says about one.
SURROGATES: tuple[str, ...] = ("profile_clicks", "impressions", "engagements", "none")

HOUR = 3600.0
DAY = 86400.0
Array = NDArray[np.float64]

_EXACT_LIMIT = 30.0  # above this expected count per interval, the Gaussian approximation of the posterior
_SUPPORT = 48  # terms of the exact posterior sum over unfollows per interval
_FACTORIALS = 4096  # log n! is tabled for n below this


@lru_cache(maxsize=1)
def _log_factorial() -> Array:
    # scipy is imported on first use, not with the package: `growthloop --help` and most commands never fit
    from scipy.special import gammaln

    return np.asarray(gammaln(np.arange(_FACTORIALS, dtype=float) + 1.0), dtype=float)


_KERNEL_GRID = (
    (1.0, 1.0),
    (2.0, 1.3),
    (3.5, 1.3),
    (5.0, 1.3),
    (7.0, 1.3),
    (10.0, 1.3),
    (14.0, 1.5),
    (20.0, 1.5),
    (5.0, 0.7),
    (5.0, 3.0),
    (10.0, 3.0),
)


@dataclass(frozen=True)
class DelayKernel:
    """When a post's follows arrive: a gamma of `mean_hours` and `shape`, truncated to [0, max_hours]."""

    mean_hours: float = 5.0
    shape: float = 1.3
    max_hours: float = 48.0

    def cdf(self, lag_seconds: ArrayLike) -> Array:
        """Share of a post's follows that have arrived `lag_seconds` after it (0 before, 1 after max_hours)."""
        grid, table = _kernel_table(self.mean_hours, self.shape, self.max_hours)
        share: Array = np.interp(np.asarray(lag_seconds, dtype=float), grid, table, left=0.0, right=1.0)
        return share

    @property
    def max_seconds(self) -> float:
        return self.max_hours * HOUR


@lru_cache(maxsize=64)
def _kernel_table(mean_hours: float, shape: float, max_hours: float) -> tuple[Array, Array]:
    grid = np.linspace(0.0, max_hours * HOUR, int(max_hours * 60) + 1)  # one point a minute
    from scipy.special import gammainc

    scale = mean_hours * HOUR / shape
    g = gammainc(shape, grid / scale)
    table = g / g[-1] if g[-1] > 0 else np.linspace(0.0, 1.0, len(grid))
    table[-1] = 1.0
    return grid, table


def pack_array(a: ArrayLike) -> dict[str, Any]:
    """An array as JSON: its float64 bytes in base64, exact and without a Python float per element (the fits
    are written at every run and read by the next)."""
    packed = np.ascontiguousarray(a, dtype="<f8")
    return {"shape": list(packed.shape), "f8": base64.b64encode(packed.tobytes()).decode("ascii")}


def unpack_array(value: Any) -> Array:
    """`pack_array`'s JSON, or the plain (nested) lists arrays were first stored as."""
    if isinstance(value, Mapping):
        raw = np.frombuffer(base64.b64decode(value["f8"]), dtype="<f8")
        return raw.reshape([int(n) for n in value["shape"]]).astype(float)
    return np.asarray(value, dtype=float)


@dataclass(frozen=True)
class AttributionFit:
    """The fitted parameters of the delay-kernel model, with their normal posterior.

    Pass it back as `warm` to the next `attribute` call: only the snapshots after `fitted_until` are then new
    data, and this posterior (widened for the time that passed) is their prior. `to_dict`/`from_dict` store it.
    """

    state_mean: Array  # [theta..., log organic rate per second, log churn rate per second]
    state_cov: Array
    kernel: DelayKernel
    surrogate: str
    fitted_until: float  # seconds: the follower series up to here is in the fit
    iterations: int = 0
    loglik: float = 0.0  # log-likelihood of the snapshot increments of the last update

    @property
    def theta(self) -> Array:
        """Conversion log-rate coefficients, one per column of the features (column 0: intercept)."""
        return self.state_mean[:-2]

    @property
    def theta_cov(self) -> Array:
        return self.state_cov[:-2, :-2]

    @property
    def organic_per_day(self) -> float:
        return float(math.exp(self.state_mean[-2]) * DAY)

    @property
    def churn_per_day(self) -> float:
        return float(math.exp(self.state_mean[-1]) * DAY)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": MODEL_NAME,
            "version": MODEL_VERSION,
            "state_mean": pack_array(self.state_mean),
            "state_cov": pack_array(self.state_cov),
            "kernel": [self.kernel.mean_hours, self.kernel.shape, self.kernel.max_hours],
            "surrogate": self.surrogate,
            "fitted_until": self.fitted_until,
            "iterations": self.iterations,
            "loglik": self.loglik,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttributionFit:
        """From `to_dict`'s JSON."""
        k = [float(v) for v in data["kernel"]]
        return cls(
            state_mean=unpack_array(data["state_mean"]),
            state_cov=unpack_array(data["state_cov"]),
            kernel=DelayKernel(k[0], k[1], k[2]),
            surrogate=str(data["surrogate"]),
            fitted_until=float(data["fitted_until"]),
            iterations=int(data.get("iterations", 0)),
            loglik=float(data.get("loglik", 0.0)),
        )


@dataclass(frozen=True)
class Attribution:
    """Per-post attributed followers (posterior mean and sd) and the fit behind them."""

    attributed: Array  # E[follows caused by the post | everything observed]
    sd: Array
    arrived: Array  # the part of it the follower series has shown
    expected: Array  # lambda: the model's expectation before looking at the series
    exposure: Array  # the surrogate (scaled up for counters not yet complete)
    fit: AttributionFit
    surrogate: str
    notes: tuple[str, ...] = ()
    model_name: str = MODEL_NAME
    model_version: str = MODEL_VERSION

    @property
    def method(self) -> tuple[str, str]:
        return self.model_name, self.model_version


@dataclass(frozen=True)
class NaiveWindows:
    """The seed's figures per post: followers before it, after each window, and the latest window's delta."""

    before: Array
    after: dict[str, Array]  # window name ("followers_2h", ...) -> followers at that time, NaN if not (yet) seen
    delta: Array  # latest seen window minus before (NaN when either is missing)
    model_name: str = NAIVE_NAME
    model_version: str = NAIVE_VERSION


# --------------------------------------------------------------------------------------------- the seed's


def naive_windows(
    post_times: ArrayLike,
    follower_times: ArrayLike,
    follower_counts: ArrayLike,
    now: float,
    windows: tuple[tuple[str, float], ...] = (
        ("followers_2h", 2 * HOUR),
        ("followers_24h", 24 * HOUR),
        ("followers_48h", 48 * HOUR),
    ),
    tolerance: float = 1800.0,
) -> NaiveWindows:
    """The seed's window figures: the snapshot before each post and the first one after each window's end."""
    t = np.asarray(post_times, dtype=float)
    s, c = _clean_series(follower_times, follower_counts)
    n = len(t)
    before = np.full(n, np.nan)
    delta = np.full(n, np.nan)
    after: dict[str, Array] = {}
    if len(s) == 0:
        return NaiveWindows(before, {name: np.full(n, np.nan) for name, _ in windows}, delta)
    i = np.searchsorted(s, t, side="right") - 1
    ok = (i >= 0) & (t - s[np.maximum(i, 0)] <= tolerance)
    before[ok] = c[i[ok]]
    latest = np.full(n, np.nan)
    for name, offset in windows:
        end = t + offset
        j = np.searchsorted(s, end, side="left")
        jj = np.minimum(j, len(s) - 1)
        seen = (j < len(s)) & (end <= now) & (s[jj] - end <= tolerance)
        col = np.full(n, np.nan)
        col[seen] = c[jj[seen]]
        after[name] = col
        latest = np.where(seen, col, latest)
    delta = latest - before
    return NaiveWindows(before, after, delta)


def estimate_completeness(values: ArrayLike) -> Array:
    """Share of a post's final counter visible at each checkpoint, from the posts' own snapshots.

    `values` is (n_posts, k): one counter (impressions, say) of each post at k checkpoints of increasing age,
    NaN where not observed (not yet, or missed). The ratio of consecutive checkpoints, pooled over the posts
    seen at both, chains back from the oldest checkpoint any post has reached (taken as complete).
    """
    v = np.asarray(values, dtype=float)
    k = v.shape[1]
    f = np.ones(k)
    seen = np.isfinite(v).any(axis=0)
    if not seen.any():
        return f
    last = int(np.nonzero(seen)[0].max())
    for c in range(last - 1, -1, -1):
        both = np.isfinite(v[:, c]) & np.isfinite(v[:, c + 1])
        den = float(v[both, c + 1].sum())
        ratio = float(v[both, c].sum()) / den if den > 0 else 1.0
        f[c] = f[c + 1] * min(max(ratio, 1e-3), 1.0)
    return f


# ------------------------------------------------------------------------------------------- the model


def choose_surrogate(
    profile_clicks: ArrayLike | None, impressions: ArrayLike | None, engagements: ArrayLike | None
) -> tuple[str, Array | None, tuple[str, ...]]:
    """The most downstream surrogate given for at least half the posts, its values and what was given up."""
    notes: list[str] = []
    for name, values in (
        ("profile_clicks", profile_clicks),
        ("impressions", impressions),
        ("engagements", engagements),
    ):
        if values is None:
            notes.append(f"no {name.replace('_', ' ')} from the platform")
            continue
        v = np.asarray(values, dtype=float)
        if len(v) == 0 or np.isfinite(v).mean() < 0.5:
            notes.append(f"{name.replace('_', ' ')} missing for most posts")
            continue
        if notes:
            notes.append(f"{name.replace('_', ' ')} used as the surrogate")
        return name, v, tuple(notes)
    notes.append("no per-post surrogate: the follower series alone")
    return "none", None, tuple(notes)


def attribute(
    post_times: ArrayLike,
    follower_times: ArrayLike,
    follower_counts: ArrayLike,
    now: float,
    *,
    features: ArrayLike | None = None,
    profile_clicks: ArrayLike | None = None,
    impressions: ArrayLike | None = None,
    engagements: ArrayLike | None = None,
    completeness: ArrayLike | None = None,
    prior_mean: ArrayLike | None = None,
    prior_sd: ArrayLike | float = 0.5,
    half_life_days: float | None = 7.0,
    kernel: DelayKernel | None = None,
    fit_kernel: bool = False,
    warm: AttributionFit | None = None,
    figures: bool = True,
    max_iterations: int = 30,
    tolerance: float = 1e-3,
) -> Attribution:
    """Attribute the follower series to the posts through a delay kernel (see the module docstring).

    post_times        (n,) seconds, any order: every post whose follows may fall in the series given
                      (posts up to the kernel's length before the first snapshot are context)
    follower_times    (m,) seconds of the follower snapshots, irregular, gaps allowed
    follower_counts   (m,) followers at each snapshot (NaN: a failed snapshot, ignored)
    now               seconds; arrivals after the last snapshot are predicted, not observed
    features          (n, p) design of the conversion rate; column 0 must be the intercept (all ones).
                      None: one conversion rate for every post
    profile_clicks, impressions, engagements
                      (n,) latest counters per post (NaN where a post has none); None where the platform
                      gives none. The most downstream one given for most posts is the surrogate
    completeness      (n,) share of each post's final counters visible now (1 when final; default 1)
    prior_mean, prior_sd  normal prior of theta per column (the intercept's sd is widened to 3)
    half_life_days    discounting for drift: the weight of older snapshot intervals halves every so many days
                      (in a warm start: how fast the previous posterior widens back toward the prior)
    kernel            the delay kernel (default: gamma, mean 5 h, shape 1.3, cut at 48 h)
    fit_kernel        choose the kernel from a small grid by the likelihood of the series (cold fits only)
    warm              the previous fit: only snapshots after its `fitted_until` are new data, its posterior
                      their prior. Same surrogate and number of columns, or it is ignored (and noted)
    figures           compute the per-post figures (False: the fit only; `attributed` is then the model's
                      expectation)
    """
    t = np.asarray(post_times, dtype=float)
    n = len(t)
    s, counts = _clean_series(follower_times, follower_counts)
    surrogate, values, notes_t = choose_surrogate(profile_clicks, impressions, engagements)
    notes = list(notes_t)
    x = np.ones((n, 1)) if features is None else np.asarray(features, dtype=float)
    if x.ndim != 2 or x.shape[0] != n:
        raise ValueError(f"features must be (n_posts, p) = ({n}, p), got {x.shape}")
    p = x.shape[1]
    comp = np.ones(n) if completeness is None else np.clip(np.asarray(completeness, dtype=float), 1e-3, 1.0)
    exposure, exp_notes = _exposure(values, comp, n)
    notes += exp_notes
    if warm is not None and (warm.surrogate != surrogate or warm.state_mean.shape != (p + 2,)):
        notes.append("the previous fit does not match (surrogate or features changed): fitted afresh")
        warm = None
    kern = kernel or (warm.kernel if warm is not None else DelayKernel())

    sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), (p,)).copy()
    sd[0] = max(sd[0], 3.0)
    mu0 = np.zeros(p) if prior_mean is None else np.asarray(prior_mean, dtype=float).copy()

    if len(s) < 2:
        notes.append("fewer than two follower snapshots: the model's expectation only")
        if warm is not None:
            fit = warm
        else:
            state = np.concatenate([mu0, [math.log(1.0 / DAY), math.log(0.005 / DAY)]])
            fit = AttributionFit(state, np.diag(np.concatenate([sd**2, [_RATE_SD**2] * 2])), kern, surrogate, now)
        lam = exposure * np.exp(x @ fit.theta)
        return Attribution(lam, np.sqrt(lam), np.zeros(n), lam, exposure, fit, surrogate, tuple(notes))

    series = _Series(s, counts)
    if warm is None:
        rho0, chi0, level = _initial(series, exposure, t)
        mu0[0] = level if prior_mean is None else mu0[0]
        state0 = np.concatenate([mu0, [math.log(rho0), math.log(chi0)]])
        prec0 = 1.0 / np.concatenate([sd**2, [_RATE_SD**2, _RATE_SD**2]])
        prior_prec = np.diag(prec0)
        start = state0.copy()
        new = np.ones(series.m, dtype=bool)
        weights = discount_weights_at(now - series.times[1:], half_life_days)
        if fit_kernel:
            kern = _best_kernel(t, series, x, exposure, start, prior_prec, state0, weights, kern)
    else:
        # the previous posterior, widened back toward the static prior for the time since it was fitted
        elapsed = max(float(series.times[-1]) - warm.fitted_until, 0.0)
        keep = 1.0 if not half_life_days else 0.5 ** (elapsed / (half_life_days * DAY))
        static = np.diag(1.0 / np.concatenate([sd**2, [_RATE_SD**2, _RATE_SD**2]]))
        prior_prec = keep * _inv(warm.state_cov) + (1.0 - keep) * static
        state0 = warm.state_mean.copy()
        start = state0.copy()
        new = series.times[:-1] >= warm.fitted_until - 1e-6
        weights = np.ones(series.m)

    pairs = _Pairs(t, series, kern)
    state, cov, iterations, loglik = start, _inv(prior_prec), 0, 0.0
    if new.any():
        state, cov, iterations, loglik = _score_fit(
            pairs, series, x, exposure, state0, prior_prec, start, new, weights, max_iterations, tolerance
        )
    elif warm is not None:
        state, cov, loglik = warm.state_mean, warm.state_cov, warm.loglik
    fit = AttributionFit(state, cov, kern, surrogate, float(series.times[-1]), iterations, loglik)

    theta = fit.theta
    lam = exposure * np.exp(np.minimum(x @ theta, 30.0))
    if not figures:
        return Attribution(lam, np.sqrt(lam), np.zeros(n), lam, exposure, fit, surrogate, tuple(notes))
    rho, chi = math.exp(state[-2]), math.exp(state[-1])
    e = _estep(pairs, series, lam, rho, chi)
    unseen = lam * (1.0 - pairs.observed)
    attributed = e.arrived + unseen
    rel = np.einsum("ij,jk,ik->i", x, fit.theta_cov, x)  # Var(log lambda_i)
    var = e.arrived_var(pairs, lam) + unseen + unseen**2 * rel
    return Attribution(attributed, np.sqrt(var), e.arrived, lam, exposure, fit, surrogate, tuple(notes))


def discount_weights_at(ages_seconds: ArrayLike, half_life_days: float | None) -> Array:
    """0.5 ** (age / half-life) (all 1 without a half-life)."""
    age = np.maximum(np.asarray(ages_seconds, dtype=float), 0.0)
    if not half_life_days:
        return np.ones_like(age)
    weights: Array = np.power(0.5, age / (half_life_days * DAY))
    return weights


# ------------------------------------------------------------------------------------------------ inner

_RATE_SD = 1.5  # prior sd of the log organic and churn rates


@dataclass
class _Series:
    times: Array
    counts: Array
    delta: Array = field(init=False)
    dt: Array = field(init=False)
    n_prev: Array = field(init=False)

    def __post_init__(self) -> None:
        self.delta = np.diff(self.counts)
        self.dt = np.diff(self.times)
        self.n_prev = np.maximum(self.counts[:-1], 0.0)

    @property
    def m(self) -> int:
        return len(self.delta)


class _Pairs:
    """The kernel mass of each post in each interval between snapshots, as a sparse (intervals x posts) matrix."""

    def __init__(self, t: Array, series: _Series, kernel: DelayKernel) -> None:
        s = series.times
        n = len(t)
        lo = np.searchsorted(s, t, side="right")  # first snapshot strictly after the post
        hi = np.searchsorted(s, t + kernel.max_seconds, side="left")  # last interval end needed
        lo_int = np.maximum(lo, 1)  # interval m spans (s[m-1], s[m]], m >= 1
        hi_int = np.minimum(hi, len(s) - 1)
        counts = np.maximum(hi_int - lo_int + 1, 0)
        counts[lo >= len(s)] = 0
        total = int(counts.sum())
        post = np.repeat(np.arange(n), counts)
        starts = np.repeat(lo_int - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        interval = np.arange(total) + starts if total else np.zeros(0, dtype=np.int64)
        if total:
            mass = kernel.cdf(s[interval] - t[post]) - kernel.cdf(s[interval - 1] - t[post])
        else:
            mass = np.zeros(0)
        self.n_intervals = len(s) - 1
        from scipy.sparse import csr_matrix

        # The pairs come sorted by post, then interval: the (posts x intervals) matrices are built directly from
        # them (the same arrays, in the order a conversion would give) and the (intervals x posts) one by a
        # single conversion, not three conversions at every use (the same matrices, element for element).
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        columns = (interval - 1).astype(np.int64)
        self.kt: csr_matrix = csr_matrix((mass, columns, indptr), shape=(n, self.n_intervals))
        self.k: csr_matrix = self.kt.T.tocsr()
        self._mass, self._columns, self._indptr = mass, columns, indptr
        self.observed = kernel.cdf(s[-1] - t) - kernel.cdf(s[0] - t)  # kernel mass inside the series

    @property
    def k2t(self) -> csr_matrix:
        from scipy.sparse import csr_matrix

        return csr_matrix((self._mass**2, self._columns, self._indptr), shape=self.kt.shape)


@dataclass
class _EStep:
    arrived: Array  # per post
    ratio: Array  # per interval: E[arrivals | increment] / expected arrivals
    var_ratio: Array  # per interval: (Var[arrivals | increment] - E[...]) / expected arrivals^2

    def arrived_var(self, pairs: _Pairs, lam: Array) -> Array:
        """Posterior variance of each post's arrivals (sum over intervals of a binomial share of a count)."""
        var: Array = np.maximum(lam * (pairs.kt @ self.ratio) + lam * lam * (pairs.k2t @ self.var_ratio), 0.0)
        return var


def _estep(pairs: _Pairs, series: _Series, lam: Array, rho: float, chi: float) -> _EStep:
    big_lambda = np.maximum(pairs.k @ lam + rho * series.dt, 1e-12)
    churn_mean = np.maximum(chi * series.n_prev * series.dt, 1e-12)
    a_mean, a_var, _ = _arrivals_posterior(series.delta, big_lambda, churn_mean)
    ratio = a_mean / big_lambda
    arrived = lam * (pairs.kt @ ratio)
    return _EStep(arrived, ratio, (a_var - a_mean) / big_lambda**2)


def _score_fit(
    pairs: _Pairs,
    series: _Series,
    x: Array,
    exposure: Array,
    prior_mean: Array,
    prior_prec: Array,
    start: Array,
    rows: NDArray[np.bool_],
    weights: Array,
    max_iterations: int,
    tolerance: float,
) -> tuple[Array, Array, int, float]:
    """Posterior mode of [theta, log rho, log chi] given the increments of `rows`, by Fisher scoring.

    E[increment] = Lambda - mu, Lambda = sum_i lambda_i kernel_mass + rho dt, mu = chi N dt; the score of an
    increment is exact (through the posterior of its arrivals), its information the Gaussian one, 1/(Lambda+mu).
    """
    k = pairs.k[rows] if not rows.all() else pairs.k
    dt, delta, n_prev, w = series.dt[rows], series.delta[rows], series.n_prev[rows], weights[rows]
    p = x.shape[1]
    state = start.copy()
    cov = _inv(prior_prec)
    loglik = 0.0
    it = 0
    for it in range(1, max_iterations + 1):  # noqa: B007 (the count is returned)
        theta = state[:p]
        rho, chi = math.exp(state[p]), math.exp(state[p + 1])
        lam = exposure * np.exp(np.minimum(x @ theta, 30.0))
        g = np.asarray(k @ (lam[:, None] * x))  # d Lambda / d theta, per interval
        big_lambda = np.maximum(g[:, 0] + rho * dt, 1e-12)  # column 0 is the intercept: sum lambda mass
        mu = np.maximum(chi * n_prev * dt, 1e-12)
        a_mean, _, loglik = _arrivals_posterior(delta, big_lambda, mu)
        u_mean = np.maximum(a_mean - delta, 0.0)
        s_lam = a_mean / big_lambda - 1.0  # d log P / d Lambda
        s_mu = u_mean / mu - 1.0  # d log P / d mu
        jac = np.column_stack([g, rho * dt, -mu])  # d E[increment] / d state
        score_terms = np.column_stack([g * s_lam[:, None], rho * dt * s_lam, mu * s_mu])
        score = score_terms.T @ w - prior_prec @ (state - prior_mean)
        info = (jac.T * (w / (big_lambda + mu))) @ jac + prior_prec
        cov = _inv(info)
        step = cov @ score
        biggest = float(np.max(np.abs(step)))
        if biggest > 1.0:
            step = step / biggest
        state = state + step
        # the organic and churn rates are told apart only by the prior (both are smooth in time): their
        # sum is what the data fixes, so convergence is judged on theta and on their sum
        rates = abs(float(step[p] * rho - step[p + 1] * chi * float(n_prev.mean()))) / max(rho, 1e-12)
        if float(np.max(np.abs(step[:p]))) < tolerance and rates < 10 * tolerance:
            break
    return state, cov, it, loglik


def _inv(a: Array) -> Array:
    sym = (a + a.T) / 2.0
    try:
        return np.asarray(np.linalg.inv(sym), dtype=float)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(sym), dtype=float)


def _arrivals_posterior(delta: Array, lam: Array, mu: Array) -> tuple[Array, Array, float]:
    """Mean and variance of A given A - U = delta, A ~ Poisson(lam), U ~ Poisson(mu); and the log-likelihood."""
    mean = np.empty_like(lam)
    var = np.empty_like(lam)
    tot = lam + mu
    loglik = 0.0
    log_factorial = _log_factorial()
    for lo, hi, support in ((-1.0, 1.5, 10), (1.5, 8.0, 24), (8.0, _EXACT_LIMIT, _SUPPORT)):
        rows = (tot > lo) & (tot <= hi) & (np.abs(delta) < _FACTORIALS - support - 1)
        if not rows.any():
            continue
        d, lm, mm = delta[rows], lam[rows], mu[rows]
        a0 = np.maximum(d, 0.0)
        j = np.arange(support)
        a = a0.astype(np.int64)[:, None] + j[None, :]
        u = a - d.astype(np.int64)[:, None]
        logw = a * np.log(lm)[:, None] - log_factorial[a] + u * np.log(mm)[:, None] - log_factorial[u]
        top = logw.max(axis=1, keepdims=True)
        pw = np.exp(logw - top)
        z = pw.sum(axis=1)
        m1 = (pw * j).sum(axis=1) / z
        m2 = (pw * (j * j)).sum(axis=1) / z
        mean[rows] = a0 + m1
        var[rows] = np.maximum(m2 - m1 * m1, 0.0)
        loglik += float((np.log(z) + top[:, 0] - lm - mm).sum())
        tot = np.where(rows, -np.inf, tot)
    approx = tot > -np.inf
    if approx.any():
        d, lm, mm = delta[approx], lam[approx], mu[approx]
        tt = lm + mm
        mean[approx] = np.maximum(lm + lm / tt * (d - lm + mm), np.maximum(d, 0.0))
        var[approx] = lm * mm / tt
        loglik += float((-0.5 * np.log(2 * np.pi * tt) - (d - lm + mm) ** 2 / (2 * tt)).sum())
    return mean, var, loglik


def _initial(series: _Series, exposure: Array, t: Array) -> tuple[float, float, float]:
    """Prior centres: organic follows a tenth of the gross growth, churn 0.5% a day, the rest from the posts."""
    days = max(float(series.dt.sum()) / DAY, 1e-6)
    net = max(float(series.delta.sum()), 0.0)
    mean_followers = max(float(series.n_prev.mean()), 1.0)
    chi = 0.005 / DAY
    gross = net + chi * DAY * mean_followers * days
    rho = max(0.1 * gross / days, 0.2) / DAY
    in_span = (t >= series.times[0] - 2 * DAY) & (t <= series.times[-1])
    exposed = float(exposure[in_span].sum())
    level = math.log(max(0.9 * gross, 0.5) / max(exposed, 1e-9)) if exposed > 0 else math.log(0.1)
    return rho, chi, level


def _best_kernel(
    t: Array,
    series: _Series,
    x: Array,
    exposure: Array,
    start: Array,
    prior_prec: Array,
    prior_mean: Array,
    weights: Array,
    current: DelayKernel,
) -> DelayKernel:
    """The kernel of the grid (and the current one) under which the series is most likely, after a short fit."""
    best: tuple[float, DelayKernel] | None = None
    candidates = [current] + [replace(current, mean_hours=m, shape=k) for m, k in _KERNEL_GRID]
    seen: set[tuple[float, float]] = set()
    rows = np.ones(series.m, dtype=bool)
    for kern in candidates:
        key = (kern.mean_hours, kern.shape)
        if key in seen or kern.mean_hours > kern.max_hours:
            continue
        seen.add(key)
        pairs = _Pairs(t, series, kern)
        _, _, _, ll = _score_fit(pairs, series, x, exposure, prior_mean, prior_prec, start, rows, weights, 6, 1e-3)
        if best is None or ll > best[0]:
            best = (ll, kern)
    assert best is not None
    return best[1]


def _exposure(values: Array | None, completeness: Array, n: int) -> tuple[Array, list[str]]:
    """Each post's surrogate, scaled up where its counters are not complete yet; the mean where missing."""
    if values is None:
        return np.ones(n), []
    notes: list[str] = []
    v = values.astype(float).copy()
    seen = np.isfinite(v)
    v[seen] = np.maximum(v[seen], 0.0)
    done = seen & (completeness >= 0.9)
    if done.any():
        typical = float(v[done].mean())
    elif seen.any():
        typical = float(v[seen].sum() / max(completeness[seen].sum(), 1e-9))
    else:
        typical = 1.0
    # The part not visible yet is expected to be typical: posterior mean of the final total.
    out = np.where(seen, v + (1.0 - completeness) * typical, typical)
    missing = int((~seen).sum())
    if missing:
        notes.append(f"{missing} post(s) without the surrogate: the typical value used")
    return out, notes


def _clean_series(times: ArrayLike, counts: ArrayLike) -> tuple[Array, Array]:
    s = np.asarray(times, dtype=float)
    c = np.asarray(counts, dtype=float)
    ok = np.isfinite(s) & np.isfinite(c)
    s, c = s[ok], c[ok]
    order = np.argsort(s, kind="stable")
    s, c = s[order], c[order]
    if len(s) > 1:  # duplicates: keep the last observation at a time
        keep = np.append(s[1:] != s[:-1], True)
        s, c = s[keep], c[keep]
    return s, c
