"""`growthloop jobs pause/resume`: the pause shows in jobs list, status and doctor; a bad name writes nothing.

The commands run in this process (`invoke_cli`): what they print and write is tested, not their process."""

from __future__ import annotations

from pathlib import Path

from .conftest import describe, dump_tables, init_db, invoke_cli, parse_json_stdout


def _learn(rows: list[dict[str, object]]) -> dict[str, object]:
    return next(r for r in rows if r["job"] == "learn")


def test_pause_shows_everywhere_and_resume_clears_it(workdir: Path) -> None:
    db = init_db(workdir / "g.db", workdir, run=invoke_cli)
    paused = invoke_cli(["jobs", "pause", "learn", "--by", "ana", "--db", db], workdir)
    assert paused.returncode == 0, describe(paused)
    assert "learn paused on account default" in paused.stdout

    learn = _learn(parse_json_stdout(invoke_cli(["jobs", "list", "--json", "--db", db], workdir)))
    assert learn["paused_by"] == "ana" and learn["paused_at"] is not None
    assert (
        _learn(parse_json_stdout(invoke_cli(["status", "--json", "--db", db], workdir))["jobs"])["paused_by"] == "ana"
    )
    table = invoke_cli(["jobs", "list", "--db", db], workdir)
    assert "by ana" in table.stdout, describe(table)

    doctor = parse_json_stdout(invoke_cli(["doctor", "--json", "--db", db], workdir))
    check = next(c for c in doctor["accounts"]["default"]["checks"] if c["name"] == "job.learn")
    assert check["state"] == "warn"
    assert "paused by ana" in check["cause"] and "growthloop jobs resume learn" in check["fix"]

    resumed = invoke_cli(["jobs", "resume", "learn", "--db", db], workdir)
    assert resumed.returncode == 0, describe(resumed)
    learn = _learn(parse_json_stdout(invoke_cli(["jobs", "list", "--json", "--db", db], workdir)))
    assert learn["paused_by"] is None and learn["paused_at"] is None


def test_an_unknown_job_is_one_line_exit_2_and_nothing_written(workdir: Path) -> None:
    db = init_db(workdir / "g.db", workdir, run=invoke_cli)
    before = dump_tables(db)
    for verb in ("pause", "resume"):
        proc = invoke_cli(["jobs", verb, "lern", "--db", db], workdir)
        assert proc.returncode == 2, describe(proc)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "unknown job 'lern'; known jobs: " in lines[0], describe(proc)
    assert dump_tables(db) == before
