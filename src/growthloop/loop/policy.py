"""The first policy: per-dimension Thompson sampling on attributed followers (SPEC §2.1, §6).

Each dimension's values are drawn from the posteriors in the performance tables; the value with the
highest draw is chosen. A share `exploration` of decisions is uniform, so that every value keeps a
positive probability. Each decision records its propensities (per dimension, and their product as the
joint one) so that it can be evaluated off-line later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from growthloop.config import Settings
from growthloop.domain import DIMENSIONS
from growthloop.loop.learn import ValueStats

PROPENSITY_DRAWS = 4000


@dataclass(frozen=True)
class Decision:
    dimensions: dict[str, str]
    propensities: dict[str, float]
    policy: str

    @property
    def propensity(self) -> float:
        return float(np.prod(list(self.propensities.values())))


def _posterior(values: list[str], stats: list[ValueStats]) -> tuple[np.ndarray, np.ndarray] | None:
    by_value = {s.value: s for s in stats}
    if not stats or any(v not in by_value for v in values):
        return None
    means = np.array([by_value[v].posterior_mean for v in values])
    sds = np.array([max(by_value[v].posterior_sd, 1e-9) for v in values])
    return means, sds


def win_probabilities(means: np.ndarray, sds: np.ndarray, seed: int) -> np.ndarray:
    """P(value has the highest draw), by Monte Carlo with a fixed seed so it is reproducible."""
    rng = np.random.default_rng([seed, 0xBEEF])
    draws = rng.normal(means, sds, size=(PROPENSITY_DRAWS, len(means)))
    wins = np.bincount(draws.argmax(axis=1), minlength=len(means))
    return wins / PROPENSITY_DRAWS


class ThompsonPolicy:
    name = "thompson"

    def __init__(self, settings: Settings, performance: dict[str, list[ValueStats]], seed: int) -> None:
        self.settings = settings
        self.eps = settings.learning.exploration
        self.seed = seed
        self._posteriors = {dim: _posterior(settings.buckets[dim], performance.get(dim, [])) for dim in DIMENSIONS}
        self._wins = {
            dim: (None if p is None else win_probabilities(p[0], p[1], seed)) for dim, p in self._posteriors.items()
        }

    def decide(self, rng: np.random.Generator) -> Decision:
        chosen: dict[str, str] = {}
        propensities: dict[str, float] = {}
        for dim in DIMENSIONS:
            values = self.settings.buckets[dim]
            k = len(values)
            posterior, wins = self._posteriors[dim], self._wins[dim]
            if posterior is None or wins is None:
                index, p = int(rng.integers(k)), 1.0 / k  # nothing learned yet: uniform
            else:
                if rng.random() < self.eps:
                    index = int(rng.integers(k))
                else:
                    index = int(np.argmax(rng.normal(posterior[0], posterior[1])))
                p = self.eps / k + (1 - self.eps) * float(wins[index])
            chosen[dim] = values[index]
            propensities[dim] = p
        return Decision(chosen, propensities, self.name)
