"""`python -m growthloop.bench.regret`: where a policy loses against the oracle, by dimension and period."""

from __future__ import annotations

import pytest

from growthloop.adapters.platforms.sim.world import default_world_path, load_world
from growthloop.bench.regret import ALL, dimension_losses, main


def test_the_oracle_loses_nothing_and_uniform_random_loses_in_every_dimension() -> None:
    world = load_world(default_world_path())
    oracle = dimension_losses(world, world.seed, "oracle", 1.0, 2)
    assert set(oracle) == {*world.dimensions, ALL}
    assert all(abs(v) < 1e-9 for losses in oracle.values() for v in losses)
    uniform = dimension_losses(world, world.seed, "uniform", 1.0, 2)
    assert all(v > 0.05 for dim in world.dimensions for v in uniform[dim])
    assert all(v > max(uniform[d][p] for d in world.dimensions) for p, v in enumerate(uniform[ALL]))


def test_it_prints_a_line_per_dimension_and_period(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--policy", "uniform", "--days", "0.5", "--seeds", "1", "--periods", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("default, uniform, 1 seeds")
    assert lines[1].split() == ["dimension", "days", "0-0.25", "days", "0.25-0.5"]
    assert [line.split()[0] for line in lines[2:]] == [*load_world(default_world_path()).dimensions, ALL]


def test_a_bad_count_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--seeds", "0"])
    assert info.value.code == 2
    assert "--seeds and --periods must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("{temperature: 1}", "--learning: not JSON: Expecting property name"),
        ("[1]", "--learning: not a JSON object: [1]"),
        ('{"temprature": 0.5}', "temprature"),
        ('{"temperature": 2}', "less than or equal to 1"),
    ],
)
def test_bad_learning_overrides_are_refused_before_a_run(
    given: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--learning", given, "--seeds", "1"])
    assert info.value.code == 2
    assert said in capsys.readouterr().err


def test_learning_overrides_reach_the_policy(capsys: pytest.CaptureFixture[str]) -> None:
    """A remedy is measured where it acts: the overrides change the bayes run (here its temperature)."""
    world = load_world(default_world_path())
    plain = dimension_losses(world, world.seed, "bayes", 2.0, 2)
    hotter = dimension_losses(world, world.seed, "bayes", 2.0, 2, {"temperature": 1.0})
    assert plain != hotter
    assert main(["--days", "0.25", "--seeds", "1", "--periods", "1", "--learning", '{"temperature": 1.0}']) == 0
    assert capsys.readouterr().out.startswith('default, bayes {"temperature": 1.0}, 1 seeds')
