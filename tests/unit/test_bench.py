"""The benchmark (docs/design.md#learning): deterministic, every policy meets the same world draws, and a short
run of every policy on two worlds reports every figure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from growthloop.adapters.platforms.sim.world import default_world_path, load_world
from growthloop.bench.engine import EngineConfig, run_policy
from growthloop.bench.report import format_text
from growthloop.bench.runs import run_bench

WORLDS = default_world_path().parent


def test_a_run_is_deterministic() -> None:
    world = load_world(default_world_path())
    a = run_policy(world, 3, "bayes", 2.0)
    b = run_policy(world, 3, "bayes", 2.0)
    assert a.dimensions == b.dimensions
    assert np.array_equal(a.follows, b.follows) and a.gain == b.gain
    assert np.allclose(a.attributed, b.attributed, equal_nan=True)
    assert np.array_equal(a.propensity, b.propensity)


def test_every_policy_meets_the_same_world_draws() -> None:
    world = load_world(WORLDS / "large_effects.toml")
    runs = {p: run_policy(world, 5, p, 3.0) for p in ("oracle", "uniform", "bayes")}
    first = runs["oracle"]
    for run in runs.values():
        assert np.array_equal(run.viral, first.viral)  # post j's draws depend on j, not on the choice
        assert run.organic_follows == first.organic_follows  # day d's organic follows on d alone
    assert runs["oracle"].dimensions != runs["uniform"].dimensions
    assert runs["oracle"].expected_gain > runs["uniform"].expected_gain


def test_a_platform_without_impressions_or_clicks_still_learns() -> None:
    world = load_world(default_world_path())
    run = run_policy(world, 1, "bayes", 3.0, EngineConfig(counters=(), ope=False))
    assert any("follower series alone" in note for note in run.notes)
    assert np.isfinite(run.attributed[run.final]).all()


@pytest.mark.parametrize("workers", [2])
def test_a_short_bench_reports_every_figure(workers: int) -> None:
    seen: list[str] = []
    result = run_bench(
        [WORLDS / "default.toml", WORLDS / "hours_and_fatigue.toml"],
        days=5,
        seeds=2,
        policies=["oracle", "uniform", "seed", "bayes"],
        progress=lambda done, total, label: seen.append(f"{done}/{total} {label}"),
        workers=workers,
    )
    assert len(seen) == 16 and seen[-1].startswith("16/16")
    json.dumps(result)  # JSON-able throughout
    assert set(result["figures"]) == {"default", "hours_and_fatigue"}
    for _world, figures in result["figures"].items():
        assert set(figures) == {"oracle", "uniform", "seed", "bayes"}
        assert figures["oracle"]["score"]["mean"] == pytest.approx(1.0)
        assert figures["uniform"]["score"]["mean"] == pytest.approx(0.0)
        assert figures["oracle"]["regret"]["mean"] == pytest.approx(0.0)
        for _policy, f in figures.items():
            assert f["gain"]["n"] == 2 and f["gain"]["low"] is not None
            assert f["score"]["low"] is not None and f["regret"]["mean"] is not None
            assert f["days_to_90"]["seeds"] == 2
            assert f["attribution"]["rho_posts"]["mean"] is not None
            assert f["attribution"]["rho_posts_naive"]["mean"] is not None
            assert f["attribution"]["rho_values_pooled"]["n"] == 2
        ope = figures["bayes"]["ope_uniform"]
        assert ope["truth"]["mean"] > 0 and "doubly_robust" in ope["estimators"]
    assert result["timing"]["runs"] == 16 and result["timing"]["elapsed_s"] > 0
    text = format_text(result)
    assert "world default" in text and "normalised score" in text and "runs in" in text


def test_a_bench_runs_the_loops_policies_through_the_real_jobs() -> None:
    """--through-jobs: bayes and uniform run as `simulate` runs them (replies and the gate included), on a
    store of their own; the oracle, which the loop does not have, in memory. Scored alike."""
    result = run_bench(
        [WORLDS / "default.toml"],
        days=1,
        seeds=1,
        policies=["oracle", "uniform", "bayes"],
        workers=1,
        through_jobs=True,
    )
    runs = {r["policy"]: r for r in result["runs"]}
    assert result["config"]["through_jobs"] is True
    assert "through_jobs" not in runs["oracle"]
    for policy in ("uniform", "bayes"):
        run = runs[policy]
        assert run["through_jobs"] is True and run["replies"] > 0  # the loop answers replies; the engine does not
        assert run["posts"] == 48 + run["replies"]  # 2 posts an hour, as in memory
        assert run["rho_values_pooled"] is not None and run["attributed_total"] > 0  # learned from the store
    memory = run_policy(load_world(WORLDS / "default.toml"), load_world(WORLDS / "default.toml").seed, "bayes", 1.0)
    assert runs["bayes"]["posts"] - runs["bayes"]["replies"] == len(memory.dimensions)
    figures = result["figures"]["default"]
    assert figures["oracle"]["score"]["mean"] == pytest.approx(1.0) and figures["bayes"]["score"]["mean"] is not None


def test_the_flat_projection_separates_what_a_run_pays_whatever_its_length() -> None:
    """`bench.speed --shortest 10 --days 30 --longer 365`: through 6 s at 10 days and 16 s at 30, a day costs
    0.5 s and a run 1 s whatever its length, so 365 flat days cost 183.5 s, 11.5x the 30-day run."""
    from growthloop.bench.speed import flat_line

    line = flat_line({"cpu": 6.0}, 10, {"cpu": 16.0}, 30, 365)
    assert "(500 ms of CPU, with 1.0 s whatever the length): 183.5 s, 11.5x the 30-day run" in line, line
