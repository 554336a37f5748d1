"""Bad price tables and budgets (negative, not a number, an unknown endpoint or platform) are refused in one
line naming the file and the field, exit status 2, and nothing is written; `growthloop spend` prints the
spend per day and category beside its recount.

The commands run in this process (`invoke_cli`); one refusal and one `spend` go through the installed command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import SIM_START, app_state_rows, describe, dump_tables, init_db, invoke_cli, row_counts, run_cli


@pytest.fixture(scope="module")
def fresh_db(module_dir: Path) -> Path:
    cwd = module_dir / "cwd"
    cwd.mkdir()
    return init_db(module_dir / "fresh.db", cwd, run=invoke_cli)


def _refused(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, describe(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, describe(proc)
    assert proc.stdout.strip() == ""
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


CASES = {
    "negative_price": ("[spend.prices.x]\npost_create = -0.015\n", ["spend.prices", "post_create", "-0.015"]),
    "price_not_a_number": ('[spend.prices.x]\npost_read = "cheap"\n', ["spend.prices", "post_read", "cheap"]),
    "unknown_endpoint": (
        "[spend.prices.x]\ntweet_create = 0.01\n",
        ["spend.prices", "unknown endpoint", "tweet_create"],
    ),
    "unknown_platform": ("[spend.prices.myspace]\npost_create = 0.01\n", ["spend.prices", "myspace"]),
    "infinite_price": ("[spend.prices.x]\npost_create = inf\n", ["spend.prices", "post_create"]),
    "negative_budget": ("[spend]\nmonthly_budget_usd = -5\n", ["spend.monthly_budget_usd", "-5"]),
    "budget_not_a_number": ('[spend]\ndaily_budget_usd = "ten"\n', ["spend.daily_budget_usd", "ten"]),
    "nan_budget": ("[spend]\ndaily_budget_usd = nan\n", ["spend.daily_budget_usd"]),
    "daily_above_monthly": ("[spend]\ndaily_budget_usd = 5\nmonthly_budget_usd = 1\n", ["spend", "daily_budget_usd"]),
    "degrade_above_one": ("[spend]\ndegrade_at = 1.5\n", ["spend.degrade_at"]),
    "bad_late_checkpoint": ('[spend]\nlate_checkpoint = "soon"\n', ["spend.late_checkpoint", "soon"]),
    "unknown_objective": ('[spend]\nobjective = "likes"\n', ["spend.objective"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", [["simulate", "--days", "1", "--start", SIM_START], ["jobs", "run", "post"]])
def test_a_bad_price_table_or_budget_is_one_line_and_writes_nothing(
    case: str, command: list[str], fresh_db: Path, tmp_path: Path
) -> None:
    body, needles = CASES[case]
    config = tmp_path / f"{case}.toml"
    config.write_text(body, encoding="utf-8")
    before = dump_tables(fresh_db)
    proc = invoke_cli([*command, "--config", config, "--db", fresh_db], tmp_path)
    _refused(proc, str(config), *needles)
    after = dump_tables(fresh_db)
    assert row_counts(after) == row_counts(before) and after == before, "the refused command wrote"
    assert app_state_rows(fresh_db) == []


def test_a_bad_budget_in_the_environment_is_named(fresh_db: Path, tmp_path: Path) -> None:
    proc = run_cli(["status", "--db", fresh_db], tmp_path, env={"GROWTHLOOP_SPEND__DAILY_BUDGET_USD": "-1"})
    _refused(proc, "GROWTHLOOP_SPEND__DAILY_BUDGET_USD", "daily_budget_usd", "at least 0")
    for bad in ("ten", "nan", "inf", ""):
        proc = invoke_cli(["status", "--db", fresh_db], tmp_path, env={"GROWTHLOOP_SPEND__DAILY_BUDGET_USD": bad})
        _refused(proc, "GROWTHLOOP_SPEND__DAILY_BUDGET_USD", "daily_budget_usd")


def test_a_budget_in_the_environment_is_read_as_dollars(fresh_db: Path, tmp_path: Path) -> None:
    """The environment gives text: '10' is ten dollars a day, as `daily_budget_usd = 10` in a file is."""
    env = {"GROWTHLOOP_SPEND__DAILY_BUDGET_USD": "10", "GROWTHLOOP_SPEND__MONTHLY_BUDGET_USD": " 250.5 "}
    proc = invoke_cli(["status", "--db", fresh_db], tmp_path, env=env)
    assert proc.returncode == 0, describe(proc)
    proc = invoke_cli(["status", "--db", fresh_db], tmp_path, env={"GROWTHLOOP_SPEND__PRICES__X__POST_CREATE": "0.02"})
    assert proc.returncode == 0, describe(proc)
    proc = invoke_cli(["status", "--db", fresh_db], tmp_path, env={"GROWTHLOOP_SPEND__PRICES__X__POST_CREATE": "-0.02"})
    _refused(proc, "GROWTHLOOP_SPEND__PRICES", "post_create", "at least 0")


def test_spend_prints_the_days_and_categories_equal_to_their_recount(tmp_path: Path) -> None:
    db = init_db(tmp_path / "sim.db", tmp_path, run=invoke_cli)
    proc = invoke_cli(["simulate", "--days", "1", "--start", SIM_START, "--db", db], tmp_path)
    assert proc.returncode == 0, describe(proc)
    shown = invoke_cli(["spend", "--db", db, "--json"], tmp_path)
    assert shown.returncode == 0, describe(shown)
    report = json.loads(shown.stdout)
    assert report["equal_to_the_cent"] is True and report["total_usd"] > 0
    assert {"post", "metrics", "followers"} <= set(report["purposes"])
    assert report["status"]["level"] == "ok" and report["status"]["usd_per_post"] > 0
    text = run_cli(["spend", "--db", db], tmp_path)
    assert text.returncode == 0 and "equal to the cent" in text.stdout
    status = invoke_cli(["status", "--db", db], tmp_path)
    assert status.returncode == 0 and "platform spend:" in status.stdout and "per post" in status.stdout
