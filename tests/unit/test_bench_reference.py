"""Issue 16 in the bench: the learnable reference (true-structure learner, its policy, the free-exploration
bound), the last 10 days' decision quality, the library peer (mabwiser, optional) and top-two sampling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from growthloop.adapters.platforms.sim.audience import Audience
from growthloop.adapters.platforms.sim.world import default_world_path, load_world
from growthloop.bench import runs as bench_runs
from growthloop.bench.engine import EngineConfig, run_policy
from growthloop.bench.peer import PeerPolicy, peer_available, train_peer
from growthloop.bench.reference import StructureLearner
from growthloop.bench.report import aggregate, format_text
from growthloop.learning.policies import _top_two

WORLDS = default_world_path().parent
START = datetime(2025, 11, 3, tzinfo=UTC)


def _uniform_posts(world_name: str, n: int, seed: int = 0) -> tuple[Any, ...]:
    world = load_world(WORLDS / f"{world_name}.toml")
    audience = Audience(world, origin=START)
    rng = np.random.default_rng(seed)
    rows, times, impr, clicks, follows = [], [], [], [], []
    topics: list[str] = []
    for j in range(n):
        dims = {d: v[int(rng.integers(len(v)))] for d, v in world.dimensions.items()}
        at = START + timedelta(minutes=30 * j)
        out = audience.draw_post(j, dims, at, topics[-world.fatigue.window :])
        rows.append(dims)
        times.append(at.timestamp())
        impr.append(out.impressions)
        clicks.append(out.profile_clicks)
        follows.append(out.follows)
        topics.append(dims["topic"])
    return audience, rows, *(np.array(a, dtype=float) for a in (times, impr, clicks, follows))


def test_the_true_structure_learner_finds_large_effects_from_uniform_posts() -> None:
    audience, rows, times, impr, clicks, follows = _uniform_posts("large_effects", 1440)
    learned = StructureLearner(audience.world).fit(rows, times, impr, clicks, follows)
    chosen = learned.best(0, [])
    truth = audience.best_dimensions(0, [])
    published = START + timedelta(days=40)
    got = audience.expected_follows(chosen, published)
    best = audience.expected_follows(truth, published)
    uniform = np.mean([audience.expected_follows(r, published) for r in rows[:300]])
    assert (got - uniform) / (best - uniform) > 0.8  # a month of uniform data: most of the gap
    assert sum(chosen[d] == truth[d] for d in truth) >= 4


def test_the_learner_with_little_data_knows_less() -> None:
    audience, rows, times, impr, clicks, follows = _uniform_posts("default", 1440, seed=1)
    learner = StructureLearner(audience.world)
    published = START + timedelta(days=40)
    best = audience.expected_follows(audience.best_dimensions(0, []), published)
    uniform = np.mean([audience.expected_follows(r, published) for r in rows])

    def quality(n: int) -> float:
        chosen = learner.fit(rows[:n], times[:n], impr[:n], clicks[:n], follows[:n]).best(0, [])
        return float((audience.expected_follows(chosen, published) - uniform) / (best - uniform))

    assert quality(1440) > quality(48)


def test_from_the_counters_the_learner_reads_conversion_from_clicks_and_follows_only_in_total() -> None:
    """Without per-post follows, which post the follows came after does not matter (only their total); the
    conversion effects are still learned, from the profile clicks."""
    audience, rows, times, impr, clicks, follows = _uniform_posts("hours_and_fatigue", 1440, seed=3)
    learner = StructureLearner(audience.world)
    shuffled = np.random.default_rng(0).permutation(follows)
    counters = learner.fit(rows, times, impr, clicks, follows, per_post_follows=False)
    assert np.array_equal(counters.score, learner.fit(rows, times, impr, clicks, shuffled, False).score)
    assert not np.array_equal(learner.fit(rows, times, impr, clicks, follows).score,
                              learner.fit(rows, times, impr, clicks, shuffled).score)  # fmt: skip
    published = START + timedelta(days=40)
    best = audience.expected_follows(audience.best_dimensions(0, []), published)
    uniform = np.mean([audience.expected_follows(r, published) for r in rows])

    def quality(n: int) -> float:
        chosen = learner.fit(rows[:n], times[:n], impr[:n], clicks[:n], follows[:n], False).best(0, [])
        return float((audience.expected_follows(chosen, published) - uniform) / (best - uniform))

    assert quality(1440) > max(quality(48), 0.5)


def test_fatigue_moves_the_learned_choice_off_a_repeated_topic() -> None:
    audience, rows, times, impr, clicks, follows = _uniform_posts("hours_and_fatigue", 1440, seed=2)
    learned = StructureLearner(audience.world).fit(rows, times, impr, clicks, follows)
    fresh = learned.best(0, [])["topic"]
    assert learned.topic_penalty > 0
    assert learned.best(0, [fresh] * audience.world.fatigue.window)["topic"] != fresh


def test_reference_policy_commits_and_uniform_runs_carry_the_free_bound() -> None:
    world = load_world(WORLDS / "large_effects.toml")
    days = 9.0
    ref = run_policy(world, 2, "reference", days, EngineConfig(ope=False))
    uni = run_policy(world, 2, "uniform", days, EngineConfig(ope=False))
    orc = run_policy(world, 2, "oracle", days, EngineConfig(ope=False))
    day = ((ref.expected_follows * 0 + np.arange(len(ref.dimensions))) // 48).astype(int)
    after = [ref.dimensions[i] for i in np.nonzero(day >= 8)[0]]
    # committed: after the exploration days every post carries the same values but the topic (fatigue)
    assert len({tuple(sorted((k, v) for k, v in d.items() if k != "topic")) for d in after}) == 1
    assert ref.dimensions[: 48 * 7] == uni.dimensions[: 48 * 7]  # uniform (same draws) while exploring
    free = uni.figures["free_daily_expected"]
    assert len(free) == int(days) and free[0] == pytest.approx(uni.daily_expected[0], abs=1e-3)
    assert sum(free[3:]) > sum(uni.daily_expected[3:])  # committing after 3+ days beats posting at random
    result = aggregate([{**r.summary(), "world_key": "large"} for r in (ref, uni, orc)])
    assert len(uni.figures["free_daily_expected_counters"]) == int(days)
    for key in ("free_bound", "free_bound_counters"):
        bound = result["large"]["uniform"][key]
        assert 0.0 < bound["score"]["mean"] < 1.0 and set(bound["quality"]) == {"2", "4", "7"}
    for policy in ("reference", "uniform", "oracle"):
        assert result["large"][policy]["last10"]["mean"] is not None
        assert result["large"][policy]["false_alarms"] == {"runs": 1, "fired": 0}
    assert result["large"]["oracle"]["last10"]["mean"] == pytest.approx(1.0)
    text = format_text({"config": {"days": days, "seeds": 1}, "figures": result})
    assert "free-exploration bound" in text and "from the counters" in text and "last 10 days" in text


def test_top_two_sampling_gives_the_challenger_a_share() -> None:
    p = np.array([0.7, 0.2, 0.1, 0.0])
    assert np.array_equal(_top_two(p, 1.0), p)  # beta = 1: plain Thompson sampling
    q = _top_two(p, 0.5)
    assert q.sum() == pytest.approx(1.0) and q[3] == 0.0  # a value that never wins is never the challenger
    assert q[0] < p[0] and q[1] > p[1] and q[2] > p[2]
    # exact: q_i = beta p_i + (1 - beta) p_i sum_{j != i} p_j / (1 - p_j)
    assert q[1] == pytest.approx(0.5 * 0.2 + 0.5 * 0.2 * (0.7 / 0.3 + 0.1 / 0.9))
    assert np.array_equal(_top_two(np.array([1.0, 0.0]), 0.5), [1.0, 0.0])


def test_the_bench_skips_the_peer_with_a_message_when_mabwiser_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_runs, "peer_available", lambda: False)
    result = bench_runs.run_bench([WORLDS / "default.toml"], days=1, seeds=1, policies=["uniform", "peer"], workers=1)
    assert "mabwiser is not installed" in result["skipped"]["peer"]
    assert {r["policy"] for r in result["runs"]} == {"uniform"}
    assert "policy peer skipped: mabwiser is not installed" in format_text(result)


@pytest.mark.skipif(not peer_available(), reason="mabwiser (the optional extra `peers`) is not installed")
def test_the_peer_learns_the_better_value_from_attributed_follows() -> None:
    from growthloop.learning.policies import UniformPolicy

    buckets = {"tone": ("a", "b", "c")}
    rng = np.random.default_rng(0)
    rows = [{"tone": "abc"[int(i)]} for i in rng.integers(0, 3, 600)]
    times = np.arange(600) * 1800.0
    attributed = np.array([3.0 if r["tone"] == "b" else 0.5 for r in rows]) + rng.normal(0, 0.3, 600)
    peer = train_peer(UniformPolicy(buckets), 7, rows, times, attributed)
    assert isinstance(peer, PeerPolicy)
    picks = [peer.decide(rng).dimensions["tone"] for _ in range(60)]
    assert picks.count("b") > 50
    decision = peer.decide(rng)
    assert np.isnan(decision.propensity)  # not known: mabwiser draws inside predict


@pytest.mark.skipif(not peer_available(), reason="mabwiser (the optional extra `peers`) is not installed")
def test_the_peer_runs_in_the_bench_on_the_attributed_follows() -> None:
    world = load_world(WORLDS / "large_effects.toml")
    run = run_policy(world, 1, "peer", 3.0, EngineConfig(ope=False))
    assert run.policy == "peer" and len(run.dimensions) == 144
    assert np.isfinite(run.attributed[run.final]).all()
    assert len({tuple(sorted(d.items())) for d in run.dimensions[-24:]}) < 24  # it has started to exploit


def test_the_learnable_summary_prints_a_line_per_world(capsys: pytest.CaptureFixture[str]) -> None:
    from growthloop.bench.learnable import main

    args = ["--world", str(WORLDS / "default.toml"), "--days", "2", "--seeds", "1", "--workers", "1"]
    assert main([*args, "--policies", "oracle,uniform,reference"]) == 0
    out = capsys.readouterr().out
    assert "free bound" in out and "from counters" in out and "reference (30 d / last 10)" in out
    row = next(line for line in out.splitlines() if line.startswith("default "))
    assert row.split()[1:4] == ["0.00", "/", "0.00"]  # 2 days: the reference is still exploring uniformly


def test_the_learnable_bench_refuses_bad_learning_overrides_before_a_run(capsys: pytest.CaptureFixture[str]) -> None:
    from growthloop.bench.learnable import main

    with pytest.raises(SystemExit) as info:
        main(["--world", str(WORLDS / "default.toml"), "--seeds", "1", "--learning", '{"temperature": 0}'])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--learning: 1 validation error for LearningConfig" in err and "greater than 0" in err


def test_without_figures_a_policy_that_does_not_learn_is_not_attributed_afterwards() -> None:
    world = load_world(default_world_path())
    run = run_policy(world, 1, "uniform", 2.0, EngineConfig(figures=False, ope=False))
    assert "rho_posts" not in run.figures and "free_daily_expected" in run.figures
    assert np.isnan(run.attributed).all()


def test_drawing_conversion_and_top_two_change_the_logged_propensities_but_keep_them_exact() -> None:
    world = load_world(default_world_path())
    base = run_policy(world, 4, "bayes", 2.0, EngineConfig(ope=False))
    for learning in ({"draw_conversion": True}, {"leader_share": 0.6}):
        other = run_policy(world, 4, "bayes", 2.0, EngineConfig(ope=False, learning=learning))
        assert not np.allclose(other.propensity, base.propensity)  # another distribution once a model exists
        assert np.array_equal(other.propensity[:4], base.propensity[:4])  # uniform before the first model
        assert ((other.propensity > 0) & (other.propensity <= 1)).all()


def test_a_bench_of_later_seeds_pools_with_the_first() -> None:
    kw = {"days": 1, "seeds": 1, "policies": ["uniform"], "workers": 1}
    first = bench_runs.run_bench([WORLDS / "default.toml"], **kw)  # type: ignore[arg-type]
    later = bench_runs.run_bench([WORLDS / "default.toml"], first_seed=3, **kw)  # type: ignore[arg-type]
    seed = load_world(WORLDS / "default.toml").seed
    assert [(r["seed"], r["world_seed"]) for r in later["runs"]] == [(3, seed + 3)]
    pooled = aggregate(first["runs"] + later["runs"])
    assert pooled["default"]["uniform"]["seeds"] == 2
