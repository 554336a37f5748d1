"""Our policy against the learnable reference and the library peer, one line per world (issue 16).

    python -m growthloop.bench.learnable [--world FILE ...] [--unseen] --days 30 --seeds 10 --workers 2 \
        [--policies oracle,uniform,bayes,peer,reference] [--json out.json] [--learning '{"leader_share": 0.7}']

Runs `run_bench` without the after-the-fact attribution figures of the policies that do not learn as they go
(`EngineConfig(figures=False)`: their scores need none) and prints the bench's tables, then per world: each
policy's normalised score (on followers gained) and its last 10 days' decision quality (on expected
follows), the free-exploration bound (and the same from the counters alone, without each post's realised
follows), and the runs in which our policy's change check fired. `--unseen`
runs the worlds in `worlds/unseen/` (written before any tuning, reported separately).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from growthloop.adapters.platforms.sim.world import default_world_path
from growthloop.bench.engine import EngineConfig, learning_overrides
from growthloop.bench.report import aggregate, format_text
from growthloop.bench.runs import run_bench

__all__ = ["main", "summary_lines"]


def _m(ci: Mapping[str, Any] | None) -> str:
    return "-" if not ci or ci.get("mean") is None else f"{float(ci['mean']):.2f}"


def summary_lines(result: Mapping[str, Any], policies: Sequence[str]) -> list[str]:
    """Per world: score / last 10 days of each policy, the free-exploration bound, false alarms of bayes."""
    shown = [p for p in policies if p not in ("oracle", "uniform")]
    head = f"{'world':28} " + " ".join(f"{p + ' (30 d / last 10)':>26}" for p in shown)
    lines = [head + f" {'free bound':>11} {'from counters':>14} {'bayes alarms':>13}"]
    means: dict[str, list[float]] = {p: [] for p in shown}
    for world, figures in result["figures"].items():
        cells = []
        for p in shown:
            f = figures.get(p) or {}
            cells.append(f"{_m(f.get('score')) + ' / ' + _m(f.get('last10')):>26}")
            if (f.get("score") or {}).get("mean") is not None:
                means[p].append(float(f["score"]["mean"]))
        uniform = figures.get("uniform") or {}
        bound = (uniform.get("free_bound") or {}).get("score")
        counters = (uniform.get("free_bound_counters") or {}).get("score")
        alarms = (figures.get("bayes") or {}).get("false_alarms") or {}
        fired = f"{alarms.get('fired', '-')} of {alarms.get('runs', '-')}"
        lines.append(f"{world:28} " + " ".join(cells) + f" {_m(bound):>11} {_m(counters):>14} {fired:>13}")
    lines.append(f"{'mean':28} " + " ".join(f"{(f'{sum(v) / len(v):.3f}' if v else '-'):>26}" for v in means.values()))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m growthloop.bench.learnable", description=__doc__.split("\n")[0])
    parser.add_argument("--world", action="append", default=[], help="a world file (repeatable)")
    parser.add_argument("--unseen", action="store_true", help="the worlds in worlds/unseen/")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--pool", action="append", default=[], help="a --json result of other seeds to pool")
    parser.add_argument("--policies", default="oracle,uniform,bayes,peer,reference")
    parser.add_argument("--learning", default="{}", help="Settings.learning overrides, as JSON")
    parser.add_argument("--json", help="write the whole result here")
    args = parser.parse_args(argv)
    try:
        learning = learning_overrides(args.learning)
    except ValueError as e:
        parser.error(str(e))
    folder = default_world_path().parent
    worlds = [Path(w) for w in args.world] or sorted((folder / "unseen" if args.unseen else folder).glob("*.toml"))
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]

    def progress(done: int, total: int, label: str) -> None:
        print(f"{done}/{total} {label}", file=sys.stderr, flush=True)

    result = run_bench(
        worlds,
        days=args.days,
        seeds=args.seeds,
        policies=policies,
        progress=progress,
        workers=args.workers,
        config=EngineConfig(figures=False, learning=learning),
        first_seed=args.first_seed,
    )
    for other in args.pool:  # other seeds of the same worlds and policies: one table over all of them
        result["runs"] = result["runs"] + json.loads(Path(other).read_text())["runs"]
        result["figures"] = aggregate(result["runs"])
        result["config"]["seeds"] = len({r["seed"] for r in result["runs"]})
    if args.json:
        Path(args.json).write_text(json.dumps(result))
    print(format_text(result))
    print()
    print("\n".join(summary_lines(result, policies)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
