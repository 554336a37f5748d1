"""Where a policy loses against the oracle, dimension by dimension and by period (issue 16).

    python -m growthloop.bench.regret --world FILE [--policy bayes] --days 30 --seeds 3 [--periods 3] \
        [--learning '{"temperature": 0.5}']

For every post of a run, and every dimension: how much more the post would be expected to bring (in log
expected follows, the world's truth at its day, hour and recent topics) with the oracle's value of that
dimension in place of the one chosen, the other dimensions as chosen. Averaged over the posts of each period
(the run's days cut into `periods` equal parts) and over the seeds. "all" swaps every dimension at once (the
oracle's whole choice). A dimension whose loss stays high in the last period is one the policy has not
settled on the best value of: what it still has to learn there, or what it stopped exploring.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from growthloop.adapters.platforms.sim.world import World, default_world_path, load_world
from growthloop.bench.engine import DAY, EngineConfig, EngineRun, learning_overrides

__all__ = ["dimension_losses", "main"]

ALL = "all"


def dimension_losses(
    world: World, seed: int, policy: str, days: float, periods: int, learning: Mapping[str, Any] | None = None
) -> dict[str, list[float]]:
    """Per dimension (and "all"), the mean log loss per post in each period of one run; `learning` overrides
    `Settings.learning` (a remedy measured where it should act)."""
    config = EngineConfig(ope=False, figures=False, reference=False, learning=dict(learning or {}))
    run = EngineRun(world, seed, policy, days, config, None)
    run.simulate()
    audience, window = run.audience, run.fatigue_window
    sums = {d: np.zeros(periods) for d in [*run.dims, ALL]}
    counts = np.zeros(periods)
    for j, chosen in enumerate(run.rows):
        when = datetime.fromtimestamp(float(run.t[j]), UTC)
        recent = run.topics[max(0, j - window) : j]
        best = audience.best_dimensions(audience.day_index(when), recent)
        base = math.log(audience.expected_follows(chosen, when, recent))
        period = min(periods - 1, int((run.t[j] - run.t0) / (days * DAY) * periods))
        counts[period] += 1
        for dim in run.dims:
            swapped = {**chosen, dim: best[dim]}
            sums[dim][period] += math.log(audience.expected_follows(swapped, when, recent)) - base
        sums[ALL][period] += math.log(audience.expected_follows(best, when, recent)) - base
    return {d: list(s / np.maximum(counts, 1)) for d, s in sums.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m growthloop.bench.regret", description=__doc__.split("\n")[0])
    parser.add_argument("--world", default=str(default_world_path()), help="a world file")
    parser.add_argument("--policy", default="bayes")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--periods", type=int, default=3)
    parser.add_argument("--learning", default="{}", help="Settings.learning overrides, as JSON")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.periods < 1 or args.days <= 0:
        parser.error("--seeds and --periods must be at least 1, --days positive")
    try:
        learning = learning_overrides(args.learning)
    except ValueError as e:
        parser.error(str(e))
    world = load_world(args.world)
    per_seed = [
        dimension_losses(world, world.seed + i, args.policy, args.days, args.periods, learning)
        for i in range(args.seeds)
    ]
    edges = [args.days * k / args.periods for k in range(args.periods + 1)]
    head = " ".join(f"{f'days {a:g}-{b:g}':>12}" for a, b in zip(edges, edges[1:]))
    given = f" {json.dumps(learning)}" if learning else ""
    print(f"{world.name}, {args.policy}{given}, {args.seeds} seeds: log loss per post against the oracle's value")
    print(f"{'dimension':18} {head}")
    for dim in per_seed[0]:
        mean = np.mean([s[dim] for s in per_seed], axis=0)
        print(f"{dim:18} " + " ".join(f"{v:12.3f}" for v in mean))
    return 0


if __name__ == "__main__":
    sys.exit(main())
