"""What cost-awareness changes: the Bayes planner maximising followers, then followers per dollar, on a world
where a link converts better but costs 13x more to post (spend/worlds/links_cost_more.toml), over seeds.

    python -m growthloop.bench.cost [--days 30] [--seeds 3] [--json]

Each run is the benchmark's in-memory loop (bench/engine.py) with `spend.objective` set; what it spends is
what X charges to create its posts (learning/cost.py: $0.015 a post, $0.200 with a link, 3 creates a thread).
Reads cost the same under both objectives (the same cadence of metrics and followers) and are left out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Literal

from growthloop.adapters.platforms.sim.world import load_world
from growthloop.bench.engine import EngineConfig, EngineRun
from growthloop.learning.cost import PRICED_DIMENSION, post_cost
from growthloop.spend.prices import price_table
from growthloop.spend.settings import SpendSettings

WORLD = Path(__file__).resolve().parent.parent / "spend" / "worlds" / "links_cost_more.toml"
Objective = Literal["followers", "followers_per_dollar"]
OBJECTIVES: tuple[Objective, ...] = ("followers", "followers_per_dollar")


def run_one(world_path: Path, seed: int, days: float, objective: Objective) -> dict[str, Any]:
    world = load_world(world_path)
    run = EngineRun(world, seed, "bayes", days, EngineConfig(ope=False), None)
    run.settings = run.settings.model_copy(update={"spend": SpendSettings(objective=objective)})
    result = run.run()
    table = price_table("x", {})
    cost = sum(post_cost(r, table) for r in run.rows)
    links = sum(1 for r in run.rows if "link" in r.get(PRICED_DIMENSION, ""))
    late = run.rows[len(run.rows) // 2 :]  # the second half: what the planner learned to do
    return {
        "objective": objective,
        "seed": seed,
        "posts": len(run.rows),
        "link_share": round(links / max(len(run.rows), 1), 3),
        "link_share_second_half": round(
            sum(1 for r in late if "link" in r.get(PRICED_DIMENSION, "")) / max(len(late), 1), 3
        ),
        "followers_gained": result.gain,
        "expected_gain": round(result.expected_gain, 1),
        "creation_usd": round(cost, 2),
        "followers_per_dollar": round(result.expected_gain / cost, 2) if cost else None,
    }


def compare(world_path: Path = WORLD, days: float = 30, seeds: int = 3) -> dict[str, Any]:
    runs = [run_one(world_path, s, days, o) for s in range(1, seeds + 1) for o in OBJECTIVES]
    by: dict[str, dict[str, float]] = {}
    for o in OBJECTIVES:
        mine = [r for r in runs if r["objective"] == o]
        by[o] = {
            k: round(statistics.mean(float(r[k]) for r in mine), 3)
            for k in ("expected_gain", "followers_gained", "creation_usd", "link_share_second_half")
        }
        by[o]["followers_per_dollar"] = round(by[o]["expected_gain"] / by[o]["creation_usd"], 2)
    f, d = by["followers"], by["followers_per_dollar"]
    return {
        "world": world_path.stem,
        "days": days,
        "seeds": seeds,
        "runs": runs,
        "mean": by,
        "ratios": {
            "spend_per_dollar_vs_followers": round(d["creation_usd"] / f["creation_usd"], 3),
            "followers_per_dollar_vs_followers": round(d["expected_gain"] / f["expected_gain"], 3),
            "followers_per_dollar_gain": round(d["followers_per_dollar"] / f["followers_per_dollar"], 3),
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m growthloop.bench.cost", description=__doc__.splitlines()[0])
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--world", type=Path, default=WORLD)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if not 1 <= a.days <= 3650 or not 1 <= a.seeds <= 100:
        p.error("--days must be within 1..3650 and --seeds within 1..100")
    t0 = time.perf_counter()
    out = compare(a.world, a.days, a.seeds)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"world {out['world']}, {a.days:g} days, seeds 1..{a.seeds} (bayes; expected follows, X creation cost)")
    head = ("objective", "expected gain", "realised", "creation $", "links (2nd half)", "follows/$")
    print(f"{head[0]:<22}{head[1]:>14}{head[2]:>10}{head[3]:>12}{head[4]:>18}{head[5]:>11}")
    for o, m in out["mean"].items():
        print(
            f"{o:<22}{m['expected_gain']:>14.1f}{m['followers_gained']:>10.1f}{m['creation_usd']:>12.2f}"
            f"{m['link_share_second_half']:>18.1%}{m['followers_per_dollar']:>11.2f}"
        )
    r = out["ratios"]
    print(
        f"followers per dollar: spend x{r['spend_per_dollar_vs_followers']}, followers x"
        f"{r['followers_per_dollar_vs_followers']}, followers per dollar x{r['followers_per_dollar_gain']} "
        f"({out['wall_s']} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
