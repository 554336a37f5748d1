"""Stage 1, decide: which dimension values the next post takes (docs/design.md#plan, #learning).

The configured policy (`learning.policy`):

- "bayes" (the default): Thompson sampling on the model learn fitted (`learning.BayesPolicy`), with an
  exploration floor; uniform until there is a model;
- "seed": the old system's design, per-dimension averages of the naive window deltas, kept to compare;
- "uniform": every value equally likely.

Each decision carries its propensities, per dimension and joint, so that any policy can be evaluated
off-line from the log (`growthloop learn evaluate`).
"""

from __future__ import annotations

import numpy as np

from growthloop.config import Settings
from growthloop.domain import DIMENSIONS
from growthloop.learning import Policy, make_policy, seed_table
from growthloop.learning.steps import build_policy
from growthloop.loop.history import LearningCache, stored_model
from growthloop.ports import Connection, Records, Store


def current_policy(
    store: Store,
    records: Records,
    conn: Connection,
    settings: Settings,
    account: str,
    name: str | None = None,
    cache: LearningCache | None = None,
) -> Policy:
    """The policy `name` (default: the configured one) as of the latest learned facts."""
    name = name or settings.learning.policy
    buckets = settings.buckets
    if name == "bayes":
        model, as_of = stored_model(store, conn, account, settings, cache)
        if cache is None:
            return build_policy("bayes", settings, model, as_of)
        # Its propensities take a Monte Carlo pass; the model changes only when learn runs: reuse it.
        key = (settings.fingerprint(), account, as_of)
        if key not in cache.policies:
            if len(cache.policies) > 16:
                cache.policies.clear()
            cache.policies[key] = build_policy("bayes", settings, model, as_of)
        return cache.policies[key]
    if name == "seed":
        return make_policy("seed", buckets, table=seed_table(buckets, *_window_deltas(records, conn, account)))
    return make_policy(name, buckets)


def _window_deltas(records: Records, conn: Connection, account: str) -> tuple[list[dict[str, str]], np.ndarray]:
    """The seed's learning data: each posted post's dimension values and its latest window delta."""
    rows = records.policy.window_deltas(conn, account)
    deltas = np.array([np.nan if r.window_delta is None else r.window_delta for r in rows], dtype=float)
    return [{d: getattr(r, d) for d in DIMENSIONS} for r in rows], deltas
