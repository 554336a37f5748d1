"""Attribution (docs/design.md#attribute, #learning): the delay-kernel model recovers a known per-post truth from an
irregular follower series, degrades (and says so) without impressions or profile clicks, and the seed's naive windows
credit every post with its neighbours' followers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from growthloop.learning.attribution import (
    MODEL_NAME,
    MODEL_VERSION,
    AttributionFit,
    DelayKernel,
    attribute,
    estimate_completeness,
    naive_windows,
)

HOUR = 3600.0
DAY = 86400.0


def _world(
    seed: int,
    days: float = 8.0,
    every: float = 1800.0,
    p_follow: np.ndarray | None = None,
    organic_per_day: float = 2.0,
    churn_per_day: float = 0.003,
    drop: float = 0.15,
) -> dict[str, np.ndarray]:
    """Posts with profile clicks; each click follows with probability p; follows arrive through the default
    kernel; organic follows and churn; snapshots every 15 minutes, some missing and a 6-hour gap."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, days * DAY, every)
    n = len(t)
    impressions = rng.lognormal(np.log(60.0), 0.7, n).round()
    clicks = rng.binomial(impressions.astype(int), 0.02).astype(float)
    p = np.full(n, 0.25) if p_follow is None else p_follow
    follows = rng.binomial(clicks.astype(int), p)
    kern = DelayKernel()
    grid = np.linspace(0, kern.max_seconds, 5000)
    cdf = kern.cdf(grid)
    arrivals = [t[i] + np.interp(rng.random(follows[i]), cdf, grid) for i in range(n)]
    events = [np.concatenate(arrivals) if arrivals else np.zeros(0)]
    organic = rng.random(rng.poisson(organic_per_day * days)) * days * DAY
    events.append(organic)
    up = np.sort(np.concatenate(events))
    snaps = np.arange(0.0, days * DAY + 1, 900.0)
    base = 100.0
    counts = base + np.searchsorted(up, snaps, side="right").astype(float)
    lost = np.cumsum(rng.poisson(churn_per_day * base * 900.0 / DAY, len(snaps)))
    counts = counts - lost
    keep = rng.random(len(snaps)) >= drop
    keep[0] = True
    gap = (snaps > 3 * DAY) & (snaps < 3 * DAY + 6 * HOUR)
    keep &= ~gap
    return {
        "t": t,
        "impressions": impressions,
        "clicks": clicks,
        "follows": follows.astype(float),
        "snap_t": snaps[keep],
        "snap_n": counts[keep],
        "now": days * DAY,
    }


def test_sparse_posts_are_attributed_almost_exactly() -> None:
    # One post every 8 hours and few organic follows: the series shows each post's follows nearly on their own.
    w = _world(1, days=20, every=8 * HOUR, drop=0.0, organic_per_day=0.2, churn_per_day=0.0005)
    res = attribute(w["t"], w["snap_t"], w["snap_n"], w["now"], profile_clicks=w["clicks"])
    done = w["t"] < w["now"] - 2 * DAY
    rho = spearmanr(res.attributed[done], w["follows"][done]).statistic
    prior = spearmanr(w["clicks"][done], w["follows"][done]).statistic  # what the surrogate alone ranks
    assert rho > 0.7
    assert rho > prior + 0.2
    assert res.model_name == MODEL_NAME and res.model_version == MODEL_VERSION
    assert res.surrogate == "profile_clicks" and res.notes == ()


@pytest.mark.parametrize("seed", [2, 3])
def test_dense_posts_rank_against_the_truth_where_naive_windows_cannot(seed: int) -> None:
    w = _world(seed)
    res = attribute(w["t"], w["snap_t"], w["snap_n"], w["now"], profile_clicks=w["clicks"])
    naive = naive_windows(w["t"], w["snap_t"], w["snap_n"], w["now"])
    done = w["t"] < w["now"] - 2 * DAY
    ours = spearmanr(res.attributed[done], w["follows"][done]).statistic
    ok = done & np.isfinite(naive.delta)
    seeds = spearmanr(naive.delta[ok], w["follows"][ok]).statistic
    assert ours > 0.5
    assert ours > seeds + 0.3
    # the totals add up: what the posts caused, not the organic follows or the churn
    caused = w["follows"][done].sum()
    assert abs(res.attributed[done].sum() - caused) < 0.25 * caused
    # each figure carries an uncertainty that covers the truth most of the time (a post without a profile
    # click brought no follower: 0 for sure)
    assert (res.sd[w["clicks"] > 0] > 0).all() and (res.attributed[w["clicks"] == 0] == 0).all()
    inside = np.abs(res.attributed[done] - w["follows"][done]) <= 2.0 * res.sd[done] + 0.5
    assert inside.mean() > 0.9


def test_the_conversion_may_depend_on_the_content() -> None:
    rng = np.random.default_rng(7)
    n = len(np.arange(0.0, 10 * DAY, 1800.0))
    good = rng.random(n) < 0.5
    w = _world(4, days=10, p_follow=np.where(good, 0.45, 0.1))
    x = np.column_stack([np.ones(n), good.astype(float)])
    res = attribute(w["t"], w["snap_t"], w["snap_n"], w["now"], features=x, profile_clicks=w["clicks"], prior_sd=3.0)
    effect, sd = res.fit.theta[1], float(np.sqrt(res.fit.theta_cov[1, 1]))
    # the series tells the two kinds of posts apart, with an honest (wide) interval
    assert effect - 2 * sd < np.log(0.45 / 0.1) < effect + 2 * sd
    assert effect - 1.5 * sd > 0.0


def test_without_clicks_or_impressions_it_falls_back_and_says_so() -> None:
    w = _world(5)
    with_impr = attribute(w["t"], w["snap_t"], w["snap_n"], w["now"], impressions=w["impressions"])
    assert with_impr.surrogate == "impressions"
    assert any("no profile clicks" in note for note in with_impr.notes)
    alone = attribute(w["t"], w["snap_t"], w["snap_n"], w["now"])
    assert alone.surrogate == "none"
    assert any("follower series alone" in note for note in alone.notes)
    clicks = attribute(w["t"], w["snap_t"], w["snap_n"], w["now"], profile_clicks=w["clicks"])
    done = w["t"] < w["now"] - 2 * DAY
    for res in (with_impr, alone):
        assert np.isfinite(res.attributed).all() and (res.sd > 0).all()  # every post may have brought some
        # less per-post information: wider than with profile clicks, never narrower
        assert res.sd[done].mean() >= clicks.sd[done].mean()
    caused = w["follows"][done].sum()
    assert abs(alone.attributed[done].sum() - caused) < 0.35 * caused
    rho_clicks = spearmanr(clicks.attributed[done], w["follows"][done]).statistic
    rho_impr = spearmanr(with_impr.attributed[done], w["follows"][done]).statistic
    assert rho_clicks > rho_impr > 0.0


def test_missing_surrogates_of_single_posts_are_filled_and_noted() -> None:
    w = _world(6, days=4)
    clicks = w["clicks"].copy()
    clicks[::10] = np.nan
    res = attribute(w["t"], w["snap_t"], w["snap_n"], w["now"], profile_clicks=clicks)
    assert res.surrogate == "profile_clicks"
    assert any("without the surrogate" in note for note in res.notes)
    assert np.isfinite(res.attributed).all()


def test_a_warm_start_continues_the_fit_with_the_new_snapshots_only() -> None:
    w = _world(8, days=10)
    cold = attribute(w["t"], w["snap_t"], w["snap_n"], w["now"], profile_clicks=w["clicks"], half_life_days=None)
    fit: AttributionFit | None = None
    for end in np.arange(1.0, 10.01, 1.0) * DAY:
        seen = w["snap_t"] <= end
        posts = w["t"] <= end
        since = fit.fitted_until if fit is not None else 0.0
        window = w["snap_t"][seen] >= since
        res = attribute(
            w["t"][posts],
            w["snap_t"][seen][window],
            w["snap_n"][seen][window],
            end,
            profile_clicks=w["clicks"][posts],
            warm=fit,
            figures=False,
            half_life_days=None,
        )
        fit = res.fit
    assert fit is not None
    assert fit.fitted_until == pytest.approx(w["snap_t"][-1])
    # the same answer as fitting everything at once, within the posterior's uncertainty
    assert abs(fit.theta[0] - cold.fit.theta[0]) < 2.0 * float(np.sqrt(cold.fit.theta_cov[0, 0]))
    assert AttributionFit.from_dict(fit.to_dict()).to_dict() == fit.to_dict()


def test_naive_windows_credit_the_whole_change_in_each_window() -> None:
    snaps = np.arange(0.0, 60 * HOUR, 900.0)
    counts = np.arange(len(snaps), dtype=float)  # one follower every 15 minutes
    t = np.array([HOUR, 13 * HOUR, 59 * HOUR])
    nw = naive_windows(t, snaps, counts, now=60 * HOUR)
    assert nw.before[0] == 4.0
    assert nw.after["followers_2h"][0] == 12.0
    assert nw.after["followers_48h"][0] == 4.0 + 48 * 4
    assert nw.delta[0] == 48 * 4  # the latest window seen: everyone's followers over 48 hours
    assert np.isnan(nw.after["followers_48h"][1])  # not due yet
    assert nw.delta[1] == 24 * 4
    assert np.isnan(nw.delta[2])  # nothing after it yet


def test_completeness_is_estimated_from_the_posts_own_snapshots() -> None:
    rng = np.random.default_rng(9)
    totals = rng.lognormal(4.0, 0.8, 300)
    ages = np.array([900.0, 3600.0, 7200.0, 21600.0, 86400.0])
    shares = 1.0 - np.exp(-ages / 7200.0)
    values = np.round(totals[:, None] * shares[None, :])
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:100, 3:] = np.nan  # young posts: not there yet
    est = estimate_completeness(values)
    assert np.allclose(est, shares / shares[-1], atol=0.03)


def test_the_kernel_is_a_distribution_over_0_to_48_hours() -> None:
    k = DelayKernel(mean_hours=5.0, shape=1.3, max_hours=48.0)
    lags = np.linspace(-HOUR, 50 * HOUR, 500)
    cdf = k.cdf(lags)
    assert cdf[0] == 0.0 and cdf[-1] == 1.0
    assert (np.diff(cdf) >= 0).all()
    assert 0.5 < float(k.cdf([5 * HOUR])[0]) < 0.75


def test_the_kernel_pairs_are_the_matrices_built_from_their_coordinates() -> None:
    """_Pairs builds its sparse matrices from the sorted pairs directly: element for element those a COO
    construction gives (the same floats, the same stored order)."""
    from scipy.sparse import csr_matrix

    from growthloop.learning.attribution import _Pairs, _Series

    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(0, 4 * DAY, 150))
    s = np.arange(DAY, 4 * DAY + 1, 900.0) + rng.uniform(-60, 60)
    pairs = _Pairs(t, _Series(s, np.arange(len(s), dtype=float)), DelayKernel())
    rows, cols = pairs.kt.nonzero()
    assert len(rows) > 1000
    mass = np.asarray(pairs.kt[rows, cols]).ravel()
    k = csr_matrix((mass, (cols, rows)), shape=pairs.k.shape)
    for ours, theirs in ((pairs.k, k), (pairs.kt, k.T.tocsr()), (pairs.k2t, csr_matrix((mass**2, (rows, cols))))):
        assert ours.shape == theirs.shape
        assert np.array_equal(ours.indptr, theirs.indptr) and np.array_equal(ours.indices, theirs.indices)
        assert np.array_equal(ours.data, theirs.data)
