"""`growthloop bench`: policies on simulated worlds over seeds, scored against the truth (docs/design.md#learning).

- `engine.run_policy`: one policy on one world for some days, in memory, at the real loop's cadence;
- `report.aggregate` / `report.format_text`: the figures over seeds (normalised score, regret, ...);
- `runs.run_bench`: every (world, seed, policy) on every core, with progress and the time taken.
"""

from growthloop.bench.engine import EngineConfig, RunResult, run_policy
from growthloop.bench.report import aggregate, format_text
from growthloop.bench.runs import DEFAULT_POLICIES, run_bench

__all__ = ["DEFAULT_POLICIES", "EngineConfig", "RunResult", "aggregate", "format_text", "run_bench", "run_policy"]
