"""Policies: how the next post's dimension values are chosen, with the propensities of the choice
(docs/design.md#plan, #learning).

Every policy here is factorised given the context: it gives each dimension a distribution over its values and
draws the dimensions independently, so that the joint propensity is the product of the per-dimension ones,
both exact (they are the probabilities the draw used). Off-policy evaluation needs both.

    policy.decide(rng, context)          -> Decision(dimensions, propensities per dimension, joint propensity)
    policy.prob(dimensions, context)     -> (joint, {dimension: propensity})
    policy.distribution(context)         -> {dimension: probabilities over the buckets, in bucket order}

The policies (`POLICIES`, built by `make_policy`):

- "bayes" (ours): Thompson sampling on the Bayesian linear model of expected follows (`model.FollowsModel`):
  each dimension's value is drawn with the posterior probability that it is the best, computed by Monte Carlo
  over the posterior (per dimension, with the topic's fatigue after the recent posts), then mixed with a
  uniform exploration floor: p = floor / k + (1 - floor) * P(best). The draws scale the posterior's sds by a
  temperature (0.3: on a month's horizon plain Thompson sampling keeps exploring values whose click effects
  stay uncertain for weeks; see docs/learning.md) and use `model.sampling_cov` (what the metrics can settle).
  Discounting for drift lives in the model's fit. With `ids` (`learning.ids`, off by default: measured worse,
  docs/learning.md) each dimension's distribution is variance-based information-directed sampling's instead,
  from the same draws (`_ids`).
- "seed": the seed's design. Per dimension, the value with the highest average naive window delta (the
  seed's attribution) is followed with probability greed * min(1, uses / 30) (its "confidence", uses / 30);
  otherwise the value is uniform. greed = 0.8: the generator is told the top performer and mostly follows it.
- "uniform": every value of every dimension equally likely.
- "oracle": the values with the highest true expected follows (`Audience.best_dimensions`); needs the world.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from growthloop.defaults import DEFAULT_EXPLORATION, DEFAULT_TEMPERATURE
from growthloop.learning.model import FollowsModel, candidate_fatigue

__all__ = [
    "DEFAULT_EXPLORATION",
    "DEFAULT_TEMPERATURE",
    "POLICIES",
    "BayesPolicy",
    "Context",
    "Decision",
    "OraclePolicy",
    "Policy",
    "SeedPolicy",
    "SeedValue",
    "UniformPolicy",
    "make_policy",
    "seed_table",
]

POLICIES: tuple[str, ...] = ("oracle", "uniform", "seed", "bayes")
Array = NDArray[np.float64]


@dataclass(frozen=True)
class Context:
    """What a policy may look at when it decides: the time, the hour, the recent topics, the day."""

    at: float | None = None  # seconds
    hour: int | None = None  # UTC hour of the post
    recent_topics: tuple[str, ...] = ()  # topics of the posts before, oldest first
    day_index: int = 0  # days since the world's origin (the oracle's drift regime)


@dataclass(frozen=True)
class Decision:
    dimensions: dict[str, str]
    propensities: dict[str, float]  # per dimension: probability of the chosen value
    propensity: float  # joint: the product
    policy: str


class Policy(Protocol):
    name: str
    buckets: dict[str, tuple[str, ...]]

    def distribution(self, context: Context | None = None) -> dict[str, Array]: ...

    def decide(self, rng: np.random.Generator, context: Context | None = None) -> Decision: ...

    def prob(self, dimensions: Mapping[str, str], context: Context | None = None) -> tuple[float, dict[str, float]]: ...


class _Factorised:
    """decide and prob from a per-dimension distribution."""

    name = "factorised"
    buckets: dict[str, tuple[str, ...]]

    def distribution(self, context: Context | None = None) -> dict[str, Array]:
        raise NotImplementedError

    def decide(self, rng: np.random.Generator, context: Context | None = None) -> Decision:
        dist = self.distribution(context)
        chosen: dict[str, str] = {}
        props: dict[str, float] = {}
        for dim, values in self.buckets.items():
            p = dist[dim]
            i = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"))
            i = min(i, len(values) - 1)
            while p[i] <= 0.0:  # never land on a zero-probability value through rounding
                i = (i - 1) % len(values)
            chosen[dim] = values[i]
            props[dim] = float(p[i])
        return Decision(chosen, props, float(math.prod(props.values())), self.name)

    def prob(self, dimensions: Mapping[str, str], context: Context | None = None) -> tuple[float, dict[str, float]]:
        dist = self.distribution(context)
        props: dict[str, float] = {}
        for dim, values in self.buckets.items():
            v = dimensions.get(dim)
            props[dim] = float(dist[dim][values.index(v)]) if v in values else 0.0
        return float(math.prod(props.values())), props


class UniformPolicy(_Factorised):
    name = "uniform"

    def __init__(self, buckets: Mapping[str, Sequence[str]]) -> None:
        self.buckets = {d: tuple(v) for d, v in buckets.items()}
        self._dist = {d: np.full(len(v), 1.0 / len(v)) for d, v in self.buckets.items()}

    def distribution(self, context: Context | None = None) -> dict[str, Array]:
        return self._dist


@dataclass(frozen=True)
class SeedValue:
    """One row of the seed's performance table: uses and the average naive window delta."""

    uses: int
    average: float | None

    @property
    def confidence(self) -> float:
        return min(1.0, self.uses / 30.0)


def seed_table(
    buckets: Mapping[str, Sequence[str]], rows: Sequence[Mapping[str, str]], deltas: Sequence[float] | Array
) -> dict[str, dict[str, SeedValue]]:
    """The seed's per-dimension averages of the naive window deltas (posts without a delta are left out)."""
    d = np.asarray(deltas, dtype=float)
    ok = np.isfinite(d)
    out: dict[str, dict[str, SeedValue]] = {}
    for dim, values in buckets.items():
        col = np.array([r.get(dim, "") for r in rows], dtype=object)
        out[dim] = {}
        for v in values:
            mask = ok & (col == v)
            uses = int(mask.sum())
            out[dim][v] = SeedValue(uses, float(d[mask].mean()) if uses else None)
    return out


class SeedPolicy(_Factorised):
    """The seed's design: follow each dimension's best average with probability greed x confidence."""

    name = "seed"

    def __init__(
        self,
        buckets: Mapping[str, Sequence[str]],
        table: Mapping[str, Mapping[str, SeedValue]] | None,
        greed: float = 0.8,
        full_confidence_uses: int = 30,
    ) -> None:
        self.buckets = {d: tuple(v) for d, v in buckets.items()}
        self._dist: dict[str, Array] = {}
        for dim, values in self.buckets.items():
            k = len(values)
            p = np.full(k, 1.0 / k)
            rows = (table or {}).get(dim, {})
            scored = [(r.average, i, r.uses) for i, v in enumerate(values) if (r := rows.get(v)) and r.uses > 0]
            if scored:
                avg, best, uses = max(scored, key=lambda s: (s[0] if s[0] is not None else -math.inf, -s[1]))
                follow = greed * min(1.0, uses / full_confidence_uses)
                p = (1.0 - follow) * p
                p[best] += follow
            self._dist[dim] = p

    def distribution(self, context: Context | None = None) -> dict[str, Array]:
        return self._dist


class BayesPolicy(_Factorised):
    """Thompson sampling on the posterior of the Bayesian linear model, with an exploration floor."""

    name = "bayes"
    ids = False  # information-directed sampling instead of Thompson sampling (`learning.ids`)

    def __init__(
        self,
        model: FollowsModel,
        exploration: float = DEFAULT_EXPLORATION,
        draws: int = 1024,
        seed: int = 0,
        temperature: float = DEFAULT_TEMPERATURE,
        leader_share: float = 1.0,
        draw_conversion: bool = False,
        ids: bool = False,
    ) -> None:
        space = model.space
        self.leader_share = leader_share
        self.ids = ids
        self.model = model
        self.buckets = space.buckets
        self.exploration = exploration
        self.draws = draws
        self.seed = seed
        mean = model.posterior.mean
        # the draws hold the follow part's own effects and kappa at their means unless draw_conversion
        cov = model.posterior.cov if model.sampling_cov is None or draw_conversion else model.sampling_cov
        self._fatigue_dim = space.fatigue_dimension
        self._lags = space.fatigue_lags
        self._static: dict[str, Array] = {}
        self._topic_samples: tuple[Array, Array] | None = None
        self._topic_cache: dict[tuple[float, ...], Array] = {}
        fs = space.fatigue_slice
        for i, (dim, sl) in enumerate(space.value_slices.items()):
            cols = list(range(sl.start, sl.stop))
            if dim == self._fatigue_dim and fs.stop > fs.start:
                cols += list(range(fs.start, fs.stop))
            block = cov[np.ix_(cols, cols)]
            block = temperature**2 * ((block + block.T) / 2.0)  # drawn with sds scaled by the temperature
            samples = _draw(mean[cols], block, draws, [seed, 0x7E57, i])
            k = sl.stop - sl.start
            if dim == self._fatigue_dim and fs.stop > fs.start:
                self._topic_samples = (samples[:, :k], samples[:, k:])
            else:
                self._static[dim] = self._choose(samples)

    def _choose(self, samples: Array) -> Array:
        """A dimension's distribution from the draws of its values' scores: the Thompson (or top-two)
        probabilities, or information-directed sampling's, mixed with the exploration floor."""
        if not self.ids:
            return self._mix(_win_probabilities(samples))
        k = samples.shape[1]
        mixed: Array = self.exploration / k + (1.0 - self.exploration) * _ids(samples)
        return mixed

    def _mix(self, wins: Array) -> Array:
        """Thompson sampling's (or top-two's) probabilities from the win probabilities, with the floor."""
        k = len(wins)
        mixed: Array = self.exploration / k + (1.0 - self.exploration) * _top_two(wins, self.leader_share)
        return mixed

    def distribution(self, context: Context | None = None) -> dict[str, Array]:
        out = dict(self._static)
        if self._fatigue_dim is not None and self._topic_samples is not None:
            recent = context.recent_topics if context is not None else ()
            values = self.buckets[self._fatigue_dim]
            fat = np.stack([candidate_fatigue(recent, v, self._lags) for v in values])  # (k, G)
            key = tuple(fat.ravel())
            if key not in self._topic_cache:
                effects, slopes = self._topic_samples
                scores = effects + slopes @ fat.T  # (draws, k)
                if len(self._topic_cache) > 256:
                    self._topic_cache.clear()
                self._topic_cache[key] = self._choose(scores)
            out[self._fatigue_dim] = self._topic_cache[key]
        return out


def _draw(mean: Array, cov: Array, draws: int, seed: list[int]) -> Array:
    rng = np.random.default_rng(seed)
    sym = (cov + cov.T) / 2.0
    vals, vecs = np.linalg.eigh(sym)
    root = vecs * np.sqrt(np.maximum(vals, 0.0))
    samples: Array = mean + rng.standard_normal((draws, len(mean))) @ root.T
    return samples


def _top_two(wins: Array, beta: float) -> Array:
    """Top-two Thompson sampling's probabilities from the win probabilities p: the leader (a Thompson draw)
    with probability beta, else the challenger (a fresh draw until another value wins):
    q_i = beta p_i + (1 - beta) p_i sum_{j != i} p_j / (1 - p_j). beta = 1 is plain Thompson sampling."""
    if beta >= 1.0:
        return wins
    p = np.asarray(wins, dtype=float)
    alone = p >= 1.0 - 1e-12
    if alone.any():  # one value always wins: it is its own challenger
        return p
    ratio = p / (1.0 - p)
    challenger = p * (ratio.sum() - ratio)
    q = beta * p + (1.0 - beta) * challenger
    return np.asarray(q / q.sum(), dtype=float)


def _ids(samples: Array) -> Array:
    """Variance-based information-directed sampling (Russo & Van Roy 2018) over one dimension's values, from
    Monte Carlo draws of their scores (draws, k). Per value a: its expected regret
    delta_a = E[max_j s_j] - E[s_a], and the information its play gives about which value is best,
    g_a = sum_j P(j best) (E[s_a | j best] - E[s_a])^2 (the variance of its expected score over the best
    value's identity). The distribution minimises (sum pi_a delta_a)^2 / (sum pi_a g_a); its minimiser puts
    all its mass on at most two values, so it is found over pairs (a, b) and the mix q between them in closed
    form. Deterministic given the draws: the propensities are exact as Thompson sampling's are."""
    s = np.asarray(samples, dtype=float)
    n, k = s.shape
    out = np.zeros(k)
    allowed = np.isfinite(s).all(axis=0)  # a value scored -inf (a cost cap) is never chosen
    if not allowed.all():
        if allowed.any():
            out[allowed] = _ids(s[:, allowed])
        return out
    if k == 1:
        out[0] = 1.0
        return out
    best = s.argmax(axis=1)
    mean = s.mean(axis=0)
    delta = np.maximum(float(s[np.arange(n), best].mean()) - mean, 0.0)
    p = np.bincount(best, minlength=k) / n
    gain = np.zeros(k)
    for j in np.nonzero(p)[0]:
        gain += p[j] * (s[best == j].mean(axis=0) - mean) ** 2
    leader = int(np.argmin(delta))
    if delta[leader] <= 1e-12 or gain.max() <= 1e-15:  # no regret expected, or nothing left to learn
        out[leader] = 1.0
        return out
    top, pair, mix = math.inf, (leader, leader), 1.0
    for a in range(k):
        for b in range(a, k):
            da, db, ga, gb = delta[a], delta[b], gain[a], gain[b]
            qs = [1.0, 0.0]
            denom = (da - db) * (ga - gb)
            if a != b and abs(denom) > 1e-300:
                q = (db * (ga - gb) - 2.0 * (da - db) * gb) / denom
                if 0.0 < q < 1.0:
                    qs.append(q)
            for q in qs:
                g = q * ga + (1.0 - q) * gb
                d = q * da + (1.0 - q) * db
                ratio = d * d / g if g > 0 else (0.0 if d <= 0 else math.inf)
                if ratio < top - 1e-15:
                    top, pair, mix = ratio, (a, b), q
    out[pair[0]] += mix
    out[pair[1]] += 1.0 - mix
    return out


def _win_probabilities(samples: Array) -> Array:
    k = samples.shape[1]
    wins = np.bincount(samples.argmax(axis=1), minlength=k).astype(float)
    share: Array = wins / wins.sum()
    return share


@dataclass
class OraclePolicy(_Factorised):
    """Knows the truth: `best(day_index, recent_topics) -> dimensions` (Audience.best_dimensions)."""

    buckets: dict[str, tuple[str, ...]]
    best: Callable[[int, Sequence[str]], Mapping[str, str]]
    window: int = 16
    name: str = "oracle"
    _cache: dict[tuple[object, ...], dict[str, Array]] = field(default_factory=dict)

    def distribution(self, context: Context | None = None) -> dict[str, Array]:
        day = context.day_index if context is not None else 0
        recent = tuple(context.recent_topics[-self.window :]) if context is not None else ()
        key = (day, tuple(sorted((t, recent.count(t)) for t in set(recent))))  # the truth sees counts only
        hit = self._cache.get(key)
        if hit is None:
            chosen = self.best(day, list(recent))
            hit = {}
            for dim, values in self.buckets.items():
                p = np.zeros(len(values))
                p[values.index(chosen[dim]) if chosen.get(dim) in values else 0] = 1.0
                hit[dim] = p
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = hit
        return hit


def make_policy(
    name: str,
    buckets: Mapping[str, Sequence[str]],
    *,
    model: FollowsModel | None = None,
    table: Mapping[str, Mapping[str, SeedValue]] | None = None,
    best: Callable[[int, Sequence[str]], Mapping[str, str]] | None = None,
    oracle_window: int = 16,
    exploration: float = DEFAULT_EXPLORATION,
    temperature: float = DEFAULT_TEMPERATURE,
    leader_share: float = 1.0,
    draw_conversion: bool = False,
    ids: bool = False,
    seed: int = 0,
) -> Policy:
    """Build a policy by name; "bayes" without a model yet is uniform (nothing learned)."""
    if name == "uniform" or (name == "bayes" and model is None):
        policy: Policy = UniformPolicy(buckets)
        if name == "bayes":
            policy.name = "bayes"
        return policy
    if name == "bayes":
        assert model is not None
        return BayesPolicy(
            model,
            exploration=exploration,
            seed=seed,
            temperature=temperature,
            leader_share=leader_share,
            draw_conversion=draw_conversion,
            ids=ids,
        )
    if name == "seed":
        return SeedPolicy(buckets, table)
    if name == "oracle":
        if best is None:
            raise ValueError("the oracle needs the world's truth (best)")
        return OraclePolicy({d: tuple(v) for d, v in buckets.items()}, best, oracle_window)
    raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
