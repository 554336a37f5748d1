"""Off-policy evaluation of the logged decisions (docs/design.md#learning): what another policy would have gained.

Every post logged its propensities, joint and per dimension, under the policy that chose it. With the
followers attributed to each post as its reward, `learning.evaluate_policy` estimates the value per post
of any other policy in the same contexts (IPS, self-normalised IPS, doubly robust with the learned model,
the per-dimension pseudo-inverse), each with a 95% interval. `growthloop learn evaluate` prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from growthloop.config import Settings
from growthloop.learning import Context, Estimate, evaluate_policy
from growthloop.learning.steps import RECENT_TOPICS
from growthloop.loop.history import stored_model
from growthloop.loop.learn import read_facts
from growthloop.loop.policy import current_policy
from growthloop.ports import Records, Store

Z95 = 1.959963984540054
QUOTED = "doubly_robust_clipped"  # the estimate to quote (see docs/learning.md); snips without a model


@dataclass
class Evaluation:
    target: str
    logged_by: dict[str, int]  # logging policy -> decisions
    decisions: int
    logged_value: Estimate | None  # the logging policies' own average attributed followers per post
    estimates: dict[str, Estimate]
    notes: list[str] = field(default_factory=list)

    @property
    def quoted(self) -> Estimate | None:
        return self.estimates.get(QUOTED) or self.estimates.get("snips")


def evaluate_logged(
    store: Store, records: Records, settings: Settings, account: str, target: str, now: datetime
) -> Evaluation:
    """Estimate `target`'s value per post from the account's posts whose attribution is final."""
    with store.connect() as conn:
        facts = read_facts(records, conn, account, settings, now, decisions=True)
        final = records.learn.final_decisions(conn, account)
        policy = current_policy(store, records, conn, settings, account, target)
        model, _ = stored_model(store, conn, account, settings)
    h = facts.history
    posts = [i for i, kind in enumerate(h.kinds) if kind == "post"]
    topics, hours = h.topics, h.hours  # every post and reply counts toward fatigue, as in the model's design
    contexts = {
        i: Context(at=float(h.times[i]), hour=int(hours[i]), recent_topics=tuple(topics[max(0, i - RECENT_TOPICS) : i]))
        for i in posts
    }
    logged = [i for i in posts if h.decision_ids[i] in final and math.isfinite(facts.attributed[i])]
    notes = [f"{len(posts) - len(logged)} posts without a final attribution yet are left out"] if logged else []
    if not logged:
        return Evaluation(target, {}, 0, None, {}, ["no post has a final attribution yet: nothing to evaluate"])
    rewards = facts.attributed[logged]
    designs = h.design[logged] if model is not None else None
    if model is None:
        notes.append("no learned model yet: no doubly robust estimate")
    estimates = evaluate_policy(
        policy,
        [h.rows[i] for i in logged],
        h.propensity[logged],
        [h.propensities[i] for i in logged],
        rewards,
        [contexts[i] for i in logged],
        model,
        designs,
    )
    by_policy: dict[str, int] = {}
    for i in logged:
        by_policy[h.policies[i]] = by_policy.get(h.policies[i], 0) + 1
    return Evaluation(target, by_policy, len(logged), _mean(rewards), estimates, notes)


def _mean(rewards: np.ndarray) -> Estimate:
    n = len(rewards)
    value = float(rewards.mean())
    se = float(rewards.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return Estimate("logged", value, value - Z95 * se, value + Z95 * se, se, n, float(n))
