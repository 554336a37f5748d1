"""A library peer in the bench: mabwiser's linear Thompson sampling, one bandit per dimension (issue 16).

"Why not just use a bandit library?" The policy "peer" answers it on the same worlds: per dimension a
`mabwiser` `LinTS` bandit whose arms are the dimension's values and whose context is the post's UTC hour (as
sin and cos, with a constant), trained on the same attributed followers as our model (`steps.attribute_run`)
every `RETRAIN_HOURS` (a batch retrain on all posts attributed so far, as a practitioner would schedule it),
each dimension's value chosen by its own bandit. Before the first attribution it posts uniformly at random.
Its Thompson draws are taken in batches (one `predict` per dimension for every UTC hour after each retrain,
more when an hour's run out): independent draws from the same posterior, as one `predict` per post would be.

mabwiser is an optional extra (`pip install 'growthloop[peers]'`, pinned in pyproject.toml), so the core
install stays small; `peer_available()` says whether it is installed, and the bench skips the policy with a
message when it is not.

Its propensities are not known (mabwiser draws inside `predict`): they are logged as NaN; off-policy
evaluation runs only on our policy's logs.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from growthloop.learning.policies import Context, Decision, Policy, UniformPolicy

__all__ = ["MISSING", "PeerPolicy", "make_peer", "peer_available", "train_peer"]

Array = NDArray[np.float64]
MISSING = "mabwiser is not installed (the optional extra: pip install 'growthloop[peers]')"
RETRAIN_HOURS = 2  # how often the bandits are refitted on the attributed followers (as often as `learn` runs)
DRAWS_PER_HOUR = 2  # Thompson draws taken per UTC hour at once
ALPHA = 1.0  # LinTS's exploration scale (mabwiser's default)
L2 = 1.0  # its ridge penalty (mabwiser's default)


def peer_available() -> bool:
    return importlib.util.find_spec("mabwiser") is not None


def _context(times: Array) -> Array:
    hour = (np.asarray(times, dtype=float) % 86400.0) / 3600.0
    angle = 2.0 * math.pi * hour / 24.0
    return np.column_stack([np.ones(len(hour)), np.sin(angle), np.cos(angle)])


class PeerPolicy:
    """One mabwiser LinTS bandit per dimension (trained: `train_peer`)."""

    name = "peer"

    def __init__(self, buckets: Mapping[str, Sequence[str]], seed: int, bandits: Mapping[str, Any]) -> None:
        self.buckets = {d: tuple(v) for d, v in buckets.items()}
        self.seed = seed
        self.bandits = dict(bandits)
        self._draws: dict[tuple[str, int], list[str]] = {}

    def _draw(self, dim: str, hour: int) -> str:
        queue = self._draws.get((dim, hour))
        if not queue:
            hours = np.repeat(np.arange(24, dtype=float), DRAWS_PER_HOUR) * 3600.0
            drawn = list(self.bandits[dim].predict(_context(hours)))
            for h in range(24):
                self._draws[(dim, h)] = [str(v) for v in drawn[h * DRAWS_PER_HOUR : (h + 1) * DRAWS_PER_HOUR]]
            queue = self._draws[(dim, hour)]
        return queue.pop(0)

    def distribution(self, context: Context | None = None) -> dict[str, Array]:
        raise NotImplementedError("mabwiser's LinTS draws inside predict: its distribution is not known")

    def prob(self, dimensions: Mapping[str, str], context: Context | None = None) -> tuple[float, dict[str, float]]:
        raise NotImplementedError("mabwiser's LinTS draws inside predict: its propensities are not known")

    def decide(self, rng: np.random.Generator, context: Context | None = None) -> Decision:
        at = context.at if context is not None and context.at is not None else 0.0
        hour = int((at % 86400.0) // 3600.0)
        chosen = {d: self._draw(d, hour) for d in self.buckets}
        return Decision(chosen, dict.fromkeys(chosen, math.nan), math.nan, self.name)


def make_peer(buckets: Mapping[str, Sequence[str]], seed: int) -> Policy:
    """The peer before it has data: uniform random, named "peer". Raises RuntimeError without mabwiser."""
    if not peer_available():
        raise RuntimeError(MISSING)
    policy = UniformPolicy(buckets)
    policy.name = "peer"
    return policy


def train_peer(
    policy: Policy,
    seed: int,
    rows: Sequence[Mapping[str, str]],
    times: Array,
    attributed: Array,
) -> Policy:
    """Per dimension a LinTS bandit fitted on the posts attributed so far (rewards: attributed followers)."""
    from mabwiser.mab import MAB, LearningPolicy

    ok = np.isfinite(attributed)
    if not ok.any():
        return policy
    x = _context(np.asarray(times)[ok])
    rewards = np.asarray(attributed)[ok]
    bandits: dict[str, Any] = {}
    for i, (dim, values) in enumerate(policy.buckets.items()):
        decisions = [rows[j].get(dim, values[0]) for j in np.nonzero(ok)[0].tolist()]
        bandit = MAB(
            arms=list(values),
            learning_policy=LearningPolicy.LinTS(alpha=ALPHA, l2_lambda=L2),
            seed=seed * 1009 + i + len(rewards),
        )
        bandit.fit(decisions=decisions, rewards=rewards, contexts=x)
        bandits[dim] = bandit
    return PeerPolicy(policy.buckets, seed, bandits)
