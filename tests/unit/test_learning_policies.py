"""Policies (docs/design.md#plan, #learning): every decision's propensities are the probabilities it was drawn with,
joint and per dimension; Thompson's match how often Thompson sampling picks each value; the floor keeps every value
possible; the seed's design follows its best average; the oracle follows the truth."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from growthloop.learning.model import FeatureSpace, FollowsModel, Posterior, candidate_fatigue
from growthloop.learning.policies import (
    BayesPolicy,
    Context,
    OraclePolicy,
    SeedPolicy,
    UniformPolicy,
    make_policy,
    seed_table,
)

BUCKETS = {"topic": ["a", "b", "c"], "tone": ["x", "y", "z", "w"], "hook": ["p", "q"]}


def _model(seed: int = 0) -> FollowsModel:
    space = FeatureSpace.of(BUCKETS)
    rng = np.random.default_rng(seed)
    mean = np.zeros(space.width)
    for sl in space.value_slices.values():
        mean[sl] = rng.normal(0.0, 0.3, sl.stop - sl.start)
    mean[space.fatigue_slice] = [-0.4, -0.2, -0.1, 0.0, 0.0]
    a = rng.normal(0.0, 0.15, (space.width, space.width))
    return FollowsModel(space, Posterior(mean, a @ a.T / space.width + np.eye(space.width) * 0.02))


def test_thompson_propensities_match_the_choices_made() -> None:
    policy = BayesPolicy(_model(), exploration=0.05, seed=1, temperature=1.0)
    ctx = Context(recent_topics=("a", "b", "a"))
    dist = policy.distribution(ctx)
    rng = np.random.default_rng(2)
    n = 6000
    decisions = [policy.decide(rng, ctx) for _ in range(n)]
    for dim, values in BUCKETS.items():
        counts = Counter(d.dimensions[dim] for d in decisions)
        freq = np.array([counts[v] / n for v in values])
        assert np.abs(freq - dist[dim]).max() < 0.025
    for d in decisions[:50]:
        assert d.propensity == pytest.approx(math.prod(d.propensities.values()))
        joint, per = policy.prob(d.dimensions, ctx)
        assert joint == pytest.approx(d.propensity) and per == d.propensities


def test_thompson_win_probabilities_are_those_of_posterior_sampling() -> None:
    model = _model(3)
    policy = BayesPolicy(model, exploration=0.0, seed=4, temperature=1.0, draws=4096)
    space = model.space
    recent = ("b", "b", "c")
    dist = policy.distribution(Context(recent_topics=recent))
    # Thompson sampling by hand: draw the coefficients, take each dimension's best value
    rng = np.random.default_rng(5)
    draws = rng.multivariate_normal(model.posterior.mean, model.posterior.cov, size=6000)
    for dim, sl in space.value_slices.items():
        scores = draws[:, sl]
        if dim == "topic":
            fat = np.stack([candidate_fatigue(recent, v, space.fatigue_lags) for v in BUCKETS[dim]])
            scores = scores + draws[:, space.fatigue_slice] @ fat.T
        freq = np.bincount(scores.argmax(axis=1), minlength=len(BUCKETS[dim])) / len(draws)
        assert np.abs(freq - dist[dim]).max() < 0.03


def test_the_exploration_floor_keeps_every_value_possible_and_temperature_sharpens() -> None:
    model = _model(6)
    sharp = BayesPolicy(model, exploration=0.04, seed=7, temperature=0.2).distribution(Context())
    wide = BayesPolicy(model, exploration=0.04, seed=7, temperature=1.0).distribution(Context())
    for dim, values in BUCKETS.items():
        assert sharp[dim].min() >= 0.04 / len(values) - 1e-12
        assert sharp[dim].sum() == pytest.approx(1.0)
        assert sharp[dim].max() >= wide[dim].max() - 1e-9


def test_fatigue_steers_thompson_away_from_a_repeated_topic() -> None:
    policy = BayesPolicy(_model(8), exploration=0.0, seed=9, temperature=0.5)
    fresh = policy.distribution(Context(recent_topics=()))["topic"]
    best = int(np.argmax(fresh))
    tired = policy.distribution(Context(recent_topics=(BUCKETS["topic"][best],) * 3))["topic"]
    assert tired[best] < fresh[best]


def test_the_seed_design_follows_its_best_average_with_its_confidence() -> None:
    rows = [{"topic": "a", "tone": "x", "hook": "p"}] * 15 + [{"topic": "b", "tone": "y", "hook": "q"}] * 45
    deltas = [3.0] * 15 + [2.0] * 45
    table = seed_table(BUCKETS, rows, deltas)
    assert table["topic"]["a"].uses == 15 and table["topic"]["a"].average == 3.0
    assert table["topic"]["a"].confidence == pytest.approx(0.5)
    assert table["topic"]["c"].average is None
    dist = SeedPolicy(BUCKETS, table, greed=0.8).distribution()
    follow = 0.8 * 0.5  # greed x confidence of the best value ("a", 15 uses)
    assert dist["topic"][0] == pytest.approx(follow + (1 - follow) / 3)
    assert dist["topic"][1] == pytest.approx((1 - follow) / 3)
    assert UniformPolicy(BUCKETS).distribution()["tone"].tolist() == [0.25] * 4


def test_the_oracle_follows_the_truth_and_bayes_without_a_model_is_uniform() -> None:
    calls = []

    def best(day: int, recent: object) -> dict[str, str]:
        calls.append(day)
        return {"topic": "c" if day else "a", "tone": "w", "hook": "q"}

    oracle = make_policy("oracle", BUCKETS, best=best)
    assert isinstance(oracle, OraclePolicy)
    d = oracle.decide(np.random.default_rng(0), Context(day_index=3))
    assert d.dimensions == {"topic": "c", "tone": "w", "hook": "q"} and d.propensity == 1.0
    assert oracle.prob({"topic": "a", "tone": "w", "hook": "q"}, Context(day_index=3))[0] == 0.0
    fresh = make_policy("bayes", BUCKETS)
    assert fresh.name == "bayes" and fresh.prob({"topic": "a", "tone": "x", "hook": "p"})[0] == pytest.approx(1 / 24)
    with pytest.raises(ValueError):
        make_policy("greedy", BUCKETS)


def test_ids_is_the_information_ratio_minimiser_over_the_draws() -> None:
    """Variance-based IDS from Monte Carlo draws: no distribution over the values (pairs on a grid, random
    mixtures) has a smaller information ratio than the one `_ids` returns, and it uses at most two values."""
    from growthloop.learning.policies import _ids

    rng = np.random.default_rng(5)
    for _ in range(30):
        k = int(rng.integers(2, 7))
        s = rng.normal(rng.normal(0.0, 0.3, k), rng.uniform(0.01, 0.5, k), size=(1024, k))
        best = s.argmax(axis=1)
        mean = s.mean(axis=0)
        delta = s[np.arange(len(s)), best].mean() - mean
        p = np.bincount(best, minlength=k) / len(s)
        gain = sum(p[j] * (s[best == j].mean(axis=0) - mean) ** 2 for j in range(k) if p[j] > 0)

        def ratio(q: np.ndarray, delta: np.ndarray = delta, gain: np.ndarray = gain) -> float:
            return float((q @ delta) ** 2 / (q @ gain)) if q @ gain > 0 else math.inf

        pi = _ids(s)
        assert pi.sum() == pytest.approx(1.0) and (pi > 0).sum() <= 2
        grid = [
            ratio(q * np.eye(k)[a] + (1 - q) * np.eye(k)[b])
            for a in range(k)
            for b in range(k)
            for q in np.linspace(0, 1, 51)
        ]
        assert ratio(pi) <= min(grid) + 1e-9
        assert all(ratio(pi) <= ratio(rng.dirichlet(np.full(k, 0.5))) + 1e-9 for _ in range(50))


def test_ids_explores_an_uncertain_contender_not_a_known_loser_and_logs_exact_propensities() -> None:
    """A leader known well, a contender a little worse on average but uncertain, a loser known to be bad:
    IDS plays the leader and the contender, never the loser (beyond the floor); Thompson sampling's choice
    is less sharp. Its propensities are the frequencies of its choices."""
    from growthloop.learning.policies import _ids

    rng = np.random.default_rng(6)
    n = 4096
    s = np.column_stack([rng.normal(0.3, 0.02, n), rng.normal(0.2, 0.3, n), rng.normal(-0.5, 0.05, n)])
    pi = _ids(s)
    assert pi[2] == 0.0 and pi[0] > 0.0 and pi[1] > 0.0
    policy = BayesPolicy(_model(7), exploration=0.05, seed=8, temperature=1.0, ids=True)
    ctx = Context(recent_topics=("a", "c"))
    dist = policy.distribution(ctx)
    for dim, values in BUCKETS.items():
        assert dist[dim].min() >= 0.05 / len(values) - 1e-12 and dist[dim].sum() == pytest.approx(1.0)
    decisions = [policy.decide(np.random.default_rng([9, i]), ctx) for i in range(4000)]
    for dim, values in BUCKETS.items():
        counts = Counter(d.dimensions[dim] for d in decisions)
        assert np.abs(np.array([counts[v] / 4000 for v in values]) - dist[dim]).max() < 0.03
    for d in decisions[:20]:
        joint, per = policy.prob(d.dimensions, ctx)
        assert joint == pytest.approx(d.propensity) and per == d.propensities
