"""`growthloop bench` as a user runs it: every figure per world and policy, as JSON or text, and its time
(the refusal in this process, `invoke_cli`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from growthloop.adapters.platforms.sim.world import default_world_path

from .conftest import invoke_cli

GROWTHLOOP = str(Path(sys.executable).with_name("growthloop"))


def test_bench_prints_every_figure_and_its_running_time(tmp_path: Path) -> None:
    done = subprocess.run(
        [GROWTHLOOP, "bench", "--days", "2", "--seeds", "2", "--world", str(default_world_path()), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    figures = result["figures"]["default"]
    assert set(figures) == {"oracle", "uniform", "seed", "bayes"}
    assert figures["oracle"]["score"]["mean"] == 1.0 and figures["uniform"]["score"]["mean"] == 0.0
    for policy in figures.values():
        assert {"gain", "score", "regret", "days_to_90"} <= set(policy)
    assert result["timing"]["elapsed_s"] > 0 and result["timing"]["runs"] == 8


def test_bench_refuses_an_unknown_policy_in_one_line(tmp_path: Path) -> None:
    done = invoke_cli(["bench", "--policies", "oracle,psychic", "--days", "1", "--seeds", "1"], tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "psychic" in done.stderr
