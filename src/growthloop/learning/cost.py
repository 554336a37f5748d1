"""Learning that counts the cost: what each content choice costs to post, and a policy that weighs it.

X charges a post by what it is: a plain post $0.015, a post carrying a link $0.200 (13x), a thread one create
per part (spend/prices.py). Only the format dimension changes what a post costs here (`format_strategy`: a
value naming a link costs a create with URL, a thread value `THREAD_PARTS` creates), so a post's cost is a
function of one dimension's value.

The model is log-linear (learning/model.py): log E[follows | x] = c + x . beta. Followers per dollar of a post
is then exp(c + x . beta) / cost(v), whose log is the same sum minus log cost(v): the objective stays
factorised, and Thompson sampling on it only shifts the priced dimension's draws by -log cost(v) before
counting which value wins. Everything else in the policy (other dimensions, topic fatigue, the exploration
floor) is the Bayes policy's own.

    spend.objective = "followers"             the Bayes policy as it is, with values dearer than
                                              spend.max_cost_per_post never drawn (the cap)
    spend.objective = "followers_per_dollar"  the priced dimension drawn by P(best follows per dollar)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from growthloop.config import Settings
from growthloop.defaults import DEFAULT_TEMPERATURE
from growthloop.learning.policies import BayesPolicy, Context, Policy, _draw, _Factorised
from growthloop.spend.prices import PriceTable, price_table

PRICED_DIMENSION = "format_strategy"
THREAD_PARTS = 3  # a thread's creates, on average (the gate cuts a deep dive into a few parts)


def value_cost(value: str, table: PriceTable) -> float:
    """USD to post one piece with this format value."""
    if "link" in value:
        return table.unit("post_create_url") / 1e6
    parts = THREAD_PARTS if "thread" in value else 1
    return parts * table.unit("post_create") / 1e6


def post_cost(dimensions: Mapping[str, str], table: PriceTable) -> float:
    return value_cost(dimensions.get(PRICED_DIMENSION, ""), table)


class CostAwarePolicy(_Factorised):
    """The Bayes policy with the priced dimension re-drawn for the objective, within the cost cap."""

    def __init__(
        self,
        inner: Policy,
        table: PriceTable,
        objective: str = "followers",
        cap: float | None = None,
        blocked: frozenset[str] = frozenset(),
        temperature: float = DEFAULT_TEMPERATURE,
    ) -> None:
        self.inner, self.table, self.objective, self.cap = inner, table, objective, cap
        self.temperature = temperature
        self.name = inner.name
        self.buckets = inner.buckets
        values = self.buckets.get(PRICED_DIMENSION, ())
        self.costs = np.array([value_cost(v, table) for v in values])
        allowed = np.array([(cap is None or c <= cap + 1e-12) and v not in blocked for v, c in zip(values, self.costs)])
        self.allowed = allowed if allowed.any() else np.ones(len(values), dtype=bool)
        self._priced: np.ndarray | None = None
        if objective == "followers_per_dollar" and isinstance(inner, BayesPolicy) and PRICED_DIMENSION in self.buckets:
            self._priced = self._per_dollar(inner)

    def _per_dollar(self, inner: BayesPolicy) -> np.ndarray:
        space = inner.model.space
        sl = space.value_slices[PRICED_DIMENSION]
        i = list(space.value_slices).index(PRICED_DIMENSION)
        mean = inner.model.posterior.mean
        cov = inner.model.posterior.cov if inner.model.sampling_cov is None else inner.model.sampling_cov
        cols = list(range(sl.start, sl.stop))
        block = cov[np.ix_(cols, cols)]
        t = self.temperature
        samples = _draw(mean[cols], t**2 * (block + block.T) / 2.0, inner.draws, [inner.seed, 0x7E57, i])
        scores = samples - np.log(np.maximum(self.costs, 1e-9))  # log(follows / dollar), up to the constant
        scores[:, ~self.allowed] = -np.inf
        return inner._choose(scores)

    def distribution(self, context: Context | None = None) -> dict[str, np.ndarray]:
        out = dict(self.inner.distribution(context))
        if PRICED_DIMENSION not in out:
            return out
        p = self._priced if self._priced is not None else out[PRICED_DIMENSION]
        p = np.where(self.allowed, p, 0.0)
        out[PRICED_DIMENSION] = p / p.sum()
        return out


def cost_aware(
    policy: Policy,
    table: PriceTable,
    objective: str,
    cap: float | None,
    blocked: frozenset[str] = frozenset(),
    temperature: float = DEFAULT_TEMPERATURE,
) -> Policy:
    """`policy` counting the cost, or `policy` itself when nothing about cost applies (free platform, no cap hit)."""
    if PRICED_DIMENSION not in policy.buckets or policy.name in ("oracle",):
        return policy
    values = policy.buckets[PRICED_DIMENSION]
    capped = cap is not None and any(value_cost(v, table) > cap + 1e-12 for v in values)
    if objective == "followers" and not capped and not blocked:
        return policy
    if table.free and not blocked:
        return policy
    return CostAwarePolicy(policy, table, objective, cap, blocked, temperature)


def settings_table(settings: Settings) -> PriceTable:
    """The prices of the account's platform (the simulator's: X's, whose world it imitates by default)."""
    return price_table("x" if settings.platform == "sim" else settings.platform, settings.spend.prices)


def counting_cost(policy: Policy, settings: Settings, blocked: frozenset[str] = frozenset()) -> Policy:
    """`policy` weighed as `spend.objective` says, within `spend.max_cost_per_post` (learning/steps.build_policy)."""
    s = settings.spend
    return cost_aware(
        policy, settings_table(settings), s.objective, s.max_cost_per_post, blocked, settings.learning.temperature
    )


__all__ = [
    "PRICED_DIMENSION",
    "CostAwarePolicy",
    "cost_aware",
    "counting_cost",
    "post_cost",
    "settings_table",
    "value_cost",
]
