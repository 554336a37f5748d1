"""`growthloop bench`'s runs: policies on worlds over seeds, on every core (docs/design.md#learning, #commands).

    result = run_bench([Path("worlds/drift.toml")], days=30, seeds=10, policies=["oracle", "uniform", "seed",
                       "bayes"], progress=lambda done, total, label: ..., workers=2)
    print(report.format_text(result))      # or json.dumps(result)

Every (world, seed, policy) is one task; tasks run in `workers` processes (spawned, each with one BLAS thread:
the matrices are small, threads only contend). Seed i of a world is the world with its seed replaced by
`world.seed + i`, the same for every policy, so all policies meet the same draws (common random numbers).
The result holds the configuration, per-world figures (`report.aggregate`), every run's summary, and the
time taken.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from growthloop.adapters.platforms.sim.profiles import PROFILES
from growthloop.adapters.platforms.sim.world import load_world
from growthloop.bench.engine import EngineConfig, run_policy
from growthloop.bench.peer import MISSING, peer_available
from growthloop.bench.report import aggregate
from growthloop.bench.through_jobs import LOOP_POLICIES, run_through_jobs
from growthloop.learning.blas import single_threaded_blas
from growthloop.learning.policies import POLICIES

__all__ = ["DEFAULT_POLICIES", "run_bench", "world_keys"]

BENCH_ONLY: tuple[str, ...] = ("peer", "reference")  # the library peer, the learnable reference (bench/)
DEFAULT_POLICIES: tuple[str, ...] = POLICIES + BENCH_ONLY
Progress = Callable[[int, int, str], None]
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def world_keys(paths: Sequence[Path]) -> list[str]:
    """A short unique name per world file: its world name, or the file stem where names repeat."""
    names = [load_world(p).name for p in paths]
    keys = []
    for p, name in zip(paths, names):
        key = name if names.count(name) == 1 else Path(p).stem
        while key in keys:
            key += "'"
        keys.append(key)
    return keys


def _task(args: tuple[str, str, int, str, float, dict[str, Any], str, bool]) -> dict[str, Any]:
    path, key, seed, policy, days, config, platform, through_jobs = args
    world = load_world(path)
    if through_jobs and policy in LOOP_POLICIES:
        summary = run_through_jobs(Path(path), world.seed + seed, policy, days, platform)
    else:
        profile = PROFILES[platform]  # what the platform shows: the learner sees only that
        engine = EngineConfig(**{**config, "counters": profile.signals, "engagements": profile.engagements})
        summary = run_policy(world, world.seed + seed, policy, days, engine).summary()
    summary["world_key"] = key
    summary["capabilities"] = platform
    summary["seed"] = seed
    summary["world_seed"] = world.seed + seed
    return summary


def _init_worker() -> None:
    single_threaded_blas()


def run_bench(
    worlds: Sequence[Path],
    days: float = 30.0,
    seeds: int = 10,
    policies: Sequence[str] = DEFAULT_POLICIES,
    progress: Progress | None = None,
    workers: int = 2,
    config: EngineConfig | None = None,
    capabilities: Sequence[str] = ("x",),
    through_jobs: bool = False,
    first_seed: int = 0,
) -> dict[str, Any]:
    """Run every policy on every world for `seeds` seeds; returns the JSON-able result (see the module doc).

    With `capabilities` (profile names: x, bluesky, mastodon) each world runs once per profile, the learner
    seeing only what that platform shows; the figures are keyed "world [profile]" when not just X's.

    `first_seed` shifts the seeds (seeds first_seed .. first_seed + seeds - 1), so that two benches of
    different seeds can be pooled (`report.aggregate` on both runs' summaries).

    `progress(done, total, label)` is called after each run ("world/policy/seed"). The normalised score and
    the regret need "oracle" and "uniform" among the policies. With `through_jobs`, the policies the loop
    has run through the real jobs on a SQLite store (`through_jobs.run_through_jobs`; "oracle" in memory).
    """
    unknown = [p for p in policies if p not in DEFAULT_POLICIES]
    if unknown:
        raise ValueError(f"unknown policies: {', '.join(unknown)} (known: {', '.join(DEFAULT_POLICIES)})")
    skipped: dict[str, str] = {}
    if "peer" in policies and not peer_available():
        skipped["peer"] = MISSING
        policies = [p for p in policies if p != "peer"]
    if not worlds:
        raise ValueError("no world to run")
    cfg = config or EngineConfig()
    cfg_dict = asdict(cfg)
    paths = [Path(p) for p in worlds]
    keys = world_keys(paths)
    # slow policies first, so that the last tasks are short and the workers finish together
    order = {"bayes": 0, "peer": 1, "seed": 2, "uniform": 3, "reference": 4, "oracle": 5}
    unknown_caps = [c for c in capabilities if c not in PROFILES]
    if unknown_caps or not capabilities:
        raise ValueError(f"unknown capabilities: {', '.join(unknown_caps)} (known: {', '.join(PROFILES)})")
    labelled = list(capabilities) != ["x"]
    tasks = [
        (
            str(path),
            f"{key} [{platform}]" if labelled else key,
            seed,
            policy,
            float(days),
            cfg_dict,
            platform,
            through_jobs,
        )
        for policy in sorted(policies, key=lambda p: order.get(p, 9))
        for seed in range(first_seed, first_seed + seeds)
        for path, key in zip(paths, keys)
        for platform in capabilities
    ]
    keys = [f"{key} [{platform}]" if labelled else key for key in keys for platform in capabilities]
    started = time.perf_counter()
    summaries: list[dict[str, Any]] = []
    total = len(tasks)

    def done(summary: dict[str, Any]) -> None:
        summaries.append(summary)
        if progress is not None:
            progress(len(summaries), total, f"{summary['world_key']}/{summary['policy']}/{summary['seed']}")

    if workers <= 1:
        single_threaded_blas()
        for task in tasks:
            done(_task(task))
    else:
        saved = {v: os.environ.get(v) for v in _THREAD_VARS}
        os.environ.update(dict.fromkeys(_THREAD_VARS, "1"))  # the spawned workers start with one thread
        try:
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_init_worker) as pool:
                for summary in pool.imap_unordered(_task, tasks):
                    done(summary)
        finally:
            for var, value in saved.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value
    elapsed = time.perf_counter() - started
    summaries.sort(key=lambda s: (keys.index(s["world_key"]), s["policy"], s["seed"]))
    run_seconds = [float(s["timings"].get("run_s", 0.0)) for s in summaries]
    return {
        "config": {
            "worlds": [str(p) for p in paths],
            "world_keys": keys,
            "days": days,
            "seeds": seeds,
            "policies": list(policies),
            "capabilities": list(capabilities),
            "engine": cfg_dict,
            "through_jobs": through_jobs,
        },
        "skipped": skipped,
        "figures": aggregate(summaries),
        "runs": summaries,
        "timing": {
            "elapsed_s": round(elapsed, 2),
            "workers": max(1, workers),
            "runs": len(summaries),
            "run_s_mean": round(sum(run_seconds) / len(run_seconds), 3) if run_seconds else 0.0,
            "run_s_max": round(max(run_seconds), 3) if run_seconds else 0.0,
        },
    }
