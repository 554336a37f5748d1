"""Off-policy evaluation: what another policy would have gained, from the logged decisions (docs/design.md#learning).

Each logged decision i has a reward r_i (its attributed followers), the logging policy's propensities
mu_i (joint) and mu_id (per dimension), and the target policy's pi_i and pi_id for the same choice. The
value estimated is the target's expected reward per post in the logged contexts. Every estimate comes with a
95% interval (normal, from the per-decision terms; the doubly robust one adds the reward model's uncertainty).

    ips            mean(w_i r_i),  w_i = pi_i / mu_i                           unbiased, high variance
    snips          sum(w_i r_i) / sum(w_i)                                      self-normalised: bounded, biased
    doubly_robust  mean(q_pi(x_i) + w_i (r_i - q(x_i, a_i)))                   a reward model q corrects IPS
    pseudo_inverse mean(r_i (sum_d w_id - (D - 1))),  w_id = pi_id / mu_id     per-dimension weights: unbiased
                   when the reward is additive over the dimensions and both policies are factorised
                   (Swaminathan et al. 2017), with far smaller weights than the joint ones
    doubly_robust with `per_dimension=True` uses the pseudo-inverse weights in the correction term: the reward
                   model carries the estimate, the correction is only as large as the model's residuals

`evaluate(...)` runs all of them on arrays; `evaluate_policy(...)` on logged decisions and a target `Policy`
(what `growthloop learn evaluate --policy NAME` needs), with the Bayesian model as the reward model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from growthloop.learning.model import FollowsModel, candidate_fatigue, expected_under
from growthloop.learning.policies import Context, Policy

__all__ = [
    "Estimate",
    "doubly_robust",
    "evaluate",
    "evaluate_policy",
    "ips",
    "model_value_variance",
    "pseudo_inverse",
    "snips",
]

Z95 = 1.959963984540054
CLIP = 20.0  # weight cap of the clipped doubly robust estimate
Array = NDArray[np.float64]


@dataclass(frozen=True)
class Estimate:
    """An off-policy estimate of a policy's value (expected reward per decision) with a 95% interval."""

    estimator: str
    value: float
    low: float
    high: float
    se: float
    n: int
    effective_n: float  # (sum w)^2 / sum w^2: how many logged decisions the weights really use

    def covers(self, truth: float) -> bool:
        return self.low <= truth <= self.high

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "estimator": self.estimator,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "se": self.se,
            "n": self.n,
            "effective_n": self.effective_n,
        }


def _mean_estimate(name: str, terms: Array, weights: Array, extra_var: float = 0.0) -> Estimate:
    n = len(terms)
    if n == 0:
        return Estimate(name, math.nan, math.nan, math.nan, math.nan, 0, 0.0)
    value = float(terms.mean())
    se = math.sqrt(float(terms.var(ddof=1)) / n + extra_var) if n > 1 else math.inf
    return Estimate(name, value, value - Z95 * se, value + Z95 * se, se, n, _ess(weights))


def _ess(w: Array) -> float:
    s2 = float((w * w).sum())
    return float(w.sum()) ** 2 / s2 if s2 > 0 else 0.0


def _arrays(*values: ArrayLike) -> list[Array]:
    return [np.asarray(v, dtype=float) for v in values]


def ips(rewards: ArrayLike, logged: ArrayLike, target: ArrayLike) -> Estimate:
    """Inverse propensity scoring with the joint propensities."""
    r, mu, pi = _arrays(rewards, logged, target)
    w = pi / mu
    return _mean_estimate("ips", w * r, w)


def snips(rewards: ArrayLike, logged: ArrayLike, target: ArrayLike) -> Estimate:
    """Self-normalised IPS; the interval by the delta method."""
    r, mu, pi = _arrays(rewards, logged, target)
    w = pi / mu
    n = len(r)
    sw = float(w.sum())
    if n == 0 or sw <= 0:
        return Estimate("snips", math.nan, math.nan, math.nan, math.nan, n, 0.0)
    value = float((w * r).sum()) / sw
    wn = w / w.mean()
    terms = wn * (r - value)
    se = math.sqrt(float((terms**2).sum()) / (n * max(n - 1, 1)))
    return Estimate("snips", value, value - Z95 * se, value + Z95 * se, se, n, _ess(w))


def pseudo_inverse(rewards: ArrayLike, logged_per_dim: ArrayLike, target_per_dim: ArrayLike) -> Estimate:
    """The per-dimension pseudo-inverse estimator (additive rewards, factorised policies)."""
    r, mu, pi = _arrays(rewards, logged_per_dim, target_per_dim)
    d = mu.shape[1]
    g = (pi / mu).sum(axis=1) - (d - 1)
    return _mean_estimate("pseudo_inverse", g * r, g)


def doubly_robust(
    rewards: ArrayLike,
    logged: ArrayLike,
    target: ArrayLike,
    predicted_logged: ArrayLike,
    predicted_target: ArrayLike,
    *,
    logged_per_dim: ArrayLike | None = None,
    target_per_dim: ArrayLike | None = None,
    model_variance: float = 0.0,
    clip: float | None = None,
) -> Estimate:
    """Doubly robust: the reward model's value under the target plus a weighted correction of its residuals.

    predicted_logged  (n,) q(x_i, a_i): the model's expected reward of the logged choice
    predicted_target  (n,) E_{a ~ pi}[q(x_i, a)]: the model's expected reward under the target
    logged_per_dim, target_per_dim  (n, D): with both, the correction uses the pseudo-inverse weights
    model_variance    variance of mean(predicted_target) from the model's posterior, added to the interval's
    clip              cap on the weights of the correction (a handful of decisions the logging policy almost
                      never makes must not swing the estimate; the model carries those)
    """
    r, mu, pi, q, qpi = _arrays(rewards, logged, target, predicted_logged, predicted_target)
    name = "doubly_robust"
    if logged_per_dim is not None and target_per_dim is not None:
        mud, pid = _arrays(logged_per_dim, target_per_dim)
        w = (pid / mud).sum(axis=1) - (mud.shape[1] - 1)
        name = "doubly_robust_pi"
    else:
        w = pi / mu
    if clip is not None:
        w = np.clip(w, -clip, clip)
        name += "_clipped"
    terms = qpi + w * (r - q)
    return _mean_estimate(name, terms, w, extra_var=model_variance)


def evaluate(
    rewards: ArrayLike,
    logged: ArrayLike,
    target: ArrayLike,
    logged_per_dim: ArrayLike,
    target_per_dim: ArrayLike,
    predicted_logged: ArrayLike | None = None,
    predicted_target: ArrayLike | None = None,
    model_variance: float = 0.0,
) -> dict[str, Estimate]:
    """Every estimator on the same logs (the doubly robust ones need the reward model's predictions)."""
    out = {
        "ips": ips(rewards, logged, target),
        "snips": snips(rewards, logged, target),
        "pseudo_inverse": pseudo_inverse(rewards, logged_per_dim, target_per_dim),
    }
    if predicted_logged is not None and predicted_target is not None:
        out["doubly_robust"] = doubly_robust(
            rewards, logged, target, predicted_logged, predicted_target, model_variance=model_variance
        )
        out["doubly_robust_clipped"] = doubly_robust(
            rewards, logged, target, predicted_logged, predicted_target, model_variance=model_variance, clip=CLIP
        )
        out["doubly_robust_pi"] = doubly_robust(
            rewards,
            logged,
            target,
            predicted_logged,
            predicted_target,
            logged_per_dim=logged_per_dim,
            target_per_dim=target_per_dim,
            model_variance=model_variance,
        )
    return out


def evaluate_policy(
    target: Policy,
    dimensions: Sequence[Mapping[str, str]],
    logged: ArrayLike,
    logged_per_dim: Sequence[Mapping[str, float]],
    rewards: ArrayLike,
    contexts: Sequence[Context] | None = None,
    model: FollowsModel | None = None,
    designs: ArrayLike | None = None,
) -> dict[str, Estimate]:
    """Off-policy estimates of `target`'s value per post from logged decisions.

    dimensions      the logged choices, one mapping per decision
    logged          (n,) their joint propensities under the logging policy
    logged_per_dim  their per-dimension propensities ({dimension: propensity} per decision)
    rewards         (n,) attributed followers per decision (drop decisions without a figure first)
    contexts        per decision, what the target may look at (hour, recent topics, day); default none
    model, designs  the reward model and the (n, width) designs of the logged posts (`FeatureSpace.encode`):
                    with both, the doubly robust estimates are included
    """
    n = len(dimensions)
    ctxs = list(contexts) if contexts is not None else [Context()] * n
    dims = list(target.buckets)
    pi = np.zeros(n)
    pi_d = np.zeros((n, len(dims)))
    mu_d = np.array([[float(row.get(d, np.nan)) for d in dims] for row in logged_per_dim], dtype=float)
    for i, (row, ctx) in enumerate(zip(dimensions, ctxs)):
        joint, per = target.prob(row, ctx)
        pi[i] = joint
        pi_d[i] = [per[d] for d in dims]
    q_logged = q_target = None
    if model is not None and designs is not None:
        q_logged = model.expected(np.asarray(designs, dtype=float))
        q_target = np.array(
            [expected_under(model, target.distribution(ctx), ctx.hour, ctx.recent_topics) for ctx in ctxs]
        )
    variance = 0.0
    if model is not None and q_target is not None:
        variance = model_value_variance(model, [target.distribution(ctx) for ctx in ctxs], ctxs)
    return evaluate(rewards, logged, pi, mu_d, pi_d, q_logged, q_target, model_variance=variance)


def model_value_variance(
    model: FollowsModel,
    distributions: Sequence[Mapping[str, ArrayLike]],
    contexts: Sequence[Context],
    draws: int = 256,
    seed: int = 0,
) -> float:
    """Posterior variance of the reward model's value of a policy (the mean over decisions of its expected
    follows when the values are drawn from `distributions`), by drawing the model's coefficients.

    The direct part of a doubly robust estimate is only as sure as the model: values the logging policy
    rarely tried are known mostly from the prior, and this says so.
    """
    space = model.space
    n = len(contexts)
    if n == 0:
        return 0.0
    rng = np.random.default_rng([seed, 0x0FE])
    theta = _draws(model.posterior.mean, model.posterior.cov, draws, rng)  # (draws, width)
    log_base = np.repeat(theta[:, :1], n, axis=1)  # (draws, n)
    hs = space.hour_slice
    if hs.stop > hs.start:
        hours = np.array([c.hour if c.hour is not None else -1 for c in contexts])
        known = hours >= 0
        h = theta[:, hs]
        avg = np.log(np.mean(np.exp(h), axis=1))
        log_base += np.where(known[None, :], h[:, np.maximum(hours, 0) % 24], avg[:, None])
    value = np.exp(log_base)
    fs = space.fatigue_slice
    for dim, sl in space.value_slices.items():
        p = np.array([np.asarray(d[dim], dtype=float) for d in distributions])  # (n, k)
        p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
        effects = theta[:, sl]  # (draws, k)
        if dim == space.fatigue_dimension and fs.stop > fs.start:
            fat = np.stack(
                [
                    np.stack([candidate_fatigue(c.recent_topics, v, space.fatigue_lags) for v in space.buckets[dim]])
                    for c in contexts
                ]
            )  # (n, k, G)
            slopes = theta[:, fs]  # (draws, G)
            terms = np.exp(effects[:, None, :] + np.einsum("nkg,dg->dnk", fat, slopes))  # (draws, n, k)
            value *= np.einsum("dnk,nk->dn", terms, p)
        else:
            value *= np.exp(effects) @ p.T
    return float(np.var(value.mean(axis=1), ddof=1))


def _draws(mean: Array, cov: Array, draws: int, rng: np.random.Generator) -> Array:
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2.0)
    root = vecs * np.sqrt(np.maximum(vals, 0.0))
    return np.asarray(mean + rng.standard_normal((draws, len(mean))) @ root.T, dtype=float)
