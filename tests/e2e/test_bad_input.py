"""Bad input ends in one clear line and a refusal that writes nothing: malformed world and configuration
files, bad environment variables, a schema newer than the code, a database never initialised, and a
simulation started twice or resumed when there is none."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from .conftest import (
    SIM_START,
    app_state_rows,
    describe,
    dump_tables,
    init_db,
    row_counts,
    run_cli,
    sqlite_engine,
)


def _stderr_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = _stderr_lines(proc)
    assert len(lines) == 1, f"expected exactly one line on stderr\n{describe(proc)}"
    return lines[0]


@pytest.fixture(scope="module")
def fresh_db(module_dir: Path) -> Path:
    """A database just initialised: schema and account, nothing else. Shared: no test may write to it."""
    cwd = module_dir / "cwd"
    cwd.mkdir()
    return init_db(module_dir / "fresh.db", cwd)


@pytest.fixture
def unchanged(fresh_db: Path):  # type: ignore[no-untyped-def]
    """Asserts after the test that the fresh database is exactly as it was, and holds no app_state."""
    before = dump_tables(fresh_db)
    assert app_state_rows(fresh_db) == []
    yield fresh_db
    after = dump_tables(fresh_db)
    assert row_counts(after) == row_counts(before)
    assert after == before, "the refused command wrote to the database"
    assert app_state_rows(fresh_db) == []


def _refused_with_one_line(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, describe(proc)
    line = _one_line(proc)
    assert proc.stdout.strip() == "", f"nothing on stdout expected\n{describe(proc)}"
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


# -- world files ----------------------------------------------------------------------------------------------

WORLDS = {
    # case: (file text, things the one line must name)
    "toml_syntax": ('name = "bad"\nseed = 1\n[reach\nsigma = 0.5\n', ["line 3"]),
    "unknown_field": ('name = "bad"\nseed = 1\nbogus_knob = 3\n', ["bogus_knob"]),
    "unknown_nested_field": ('name = "bad"\nseed = 1\n[funnel]\nlikes = 0.1\n', ["funnel.likes"]),
    "wrong_type_seed": ('name = "bad"\nseed = "x"\n', ["seed", "integer"]),
    "probability_above_one": (
        'name = "bad"\nseed = 1\n[virality]\nprobability = 1.5\n',
        ["virality.probability", "1.5"],
    ),
    "negative_rate": ('name = "bad"\nseed = 1\n[funnel]\nlike = -0.1\n', ["funnel.like", "-0.1"]),
    "effect_of_unknown_value": (
        'name = "bad"\nseed = 1\n[effects.topic]\ngardening = { reach = 0.1 }\n',
        ["effects.topic.gardening"],
    ),
}


@pytest.mark.parametrize("case", sorted(WORLDS))
def test_malformed_world_file(case: str, unchanged: Path, tmp_path: Path) -> None:
    body, needles = WORLDS[case]
    world = tmp_path / f"{case}.toml"
    world.write_text(body, encoding="utf-8")
    proc = run_cli(["simulate", "--world", world, "--db", unchanged, "--days", "1", "--start", SIM_START], tmp_path)
    _refused_with_one_line(proc, str(world), *needles)


def test_world_file_error_shows_the_bad_value_verbatim(unchanged: Path, tmp_path: Path) -> None:
    """A value quoted from the user's file is shown as written, not interpreted as Rich markup."""
    world = tmp_path / "markup.toml"
    world.write_text('name = "bad"\nseed = "[b]x[/b]"\n', encoding="utf-8")
    proc = run_cli(["simulate", "--world", world, "--db", unchanged, "--days", "1"], tmp_path)
    _refused_with_one_line(proc, str(world), "seed", "[b]x[/b]")


def test_missing_world_file(unchanged: Path, tmp_path: Path) -> None:
    world = tmp_path / "no-such-world.toml"
    proc = run_cli(["simulate", "--world", world, "--db", unchanged, "--days", "1"], tmp_path)
    _refused_with_one_line(proc, str(world))


# -- configuration files ------------------------------------------------------------------------------------------

CONFIGS = {
    "wrong_type": ('posts_per_hour = "lots"\n', ["posts_per_hour", "integer"]),
    "bad_duration": ('[jobs.post]\ninterval = "5 minutes"\n', ["jobs.post.interval", "5 minutes"]),
    "unknown_key": ("bogus_key = 1\n", ["bogus_key"]),
    "unknown_job": ('[jobs.bogus]\ninterval = "15m"\n', ["jobs", "bogus"]),
    "out_of_range": ("posts_per_hour = 0\n", ["posts_per_hour"]),
    "toml_syntax": ("posts_per_hour = [\n", []),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_malformed_config_file(case: str, unchanged: Path, tmp_path: Path) -> None:
    body, needles = CONFIGS[case]
    config = tmp_path / f"{case}.toml"
    config.write_text(body, encoding="utf-8")
    proc = run_cli(["simulate", "--days", "1", "--config", config, "--db", unchanged], tmp_path)
    _refused_with_one_line(proc, str(config), *needles)


@pytest.mark.parametrize(
    "command",
    [["status"], ["posts"], ["jobs", "list"], ["jobs", "run", "plan"]],
    ids=["status", "posts", "jobs-list", "jobs-run"],
)
def test_malformed_config_file_other_commands(command: list[str], unchanged: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[jobs.post]\ninterval = "5 minutes"\n', encoding="utf-8")
    proc = run_cli([*command, "--config", config, "--db", unchanged], tmp_path)
    _refused_with_one_line(proc, str(config), "jobs.post.interval")


def test_config_file_named_by_environment(unchanged: Path, tmp_path: Path) -> None:
    config = tmp_path / "env-named.toml"
    config.write_text('[jobs.post]\ninterval = "5 minutes"\n', encoding="utf-8")
    proc = run_cli(["status", "--db", unchanged], tmp_path, env={"GROWTHLOOP_CONFIG": str(config)})
    _refused_with_one_line(proc, str(config), "jobs.post.interval")


def test_growthloop_toml_in_the_working_directory_is_read(unchanged: Path, tmp_path: Path) -> None:
    (tmp_path / "growthloop.toml").write_text('posts_per_hour = "lots"\n', encoding="utf-8")
    proc = run_cli(["simulate", "--db", unchanged, "--days", "1"], tmp_path)
    _refused_with_one_line(proc, "growthloop.toml", "posts_per_hour")


# -- environment variables ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["simulate", "--days", "1"], ["status"], ["jobs", "list"]], ids=["simulate", "status", "jobs-list"]
)
def test_bad_environment_variable_is_named(command: list[str], unchanged: Path, tmp_path: Path) -> None:
    proc = run_cli([*command, "--db", unchanged], tmp_path, env={"GROWTHLOOP_POSTS_PER_HOUR": "abc"})
    _refused_with_one_line(proc, "GROWTHLOOP_POSTS_PER_HOUR", "posts_per_hour")


def test_bad_environment_variable_is_named_even_when_the_file_sets_the_field(unchanged: Path, tmp_path: Path) -> None:
    """The environment overrides the file, so a bad value there is the variable's fault, not the file's."""
    config = tmp_path / "fine.toml"
    config.write_text("posts_per_hour = 3\n", encoding="utf-8")
    proc = run_cli(
        ["status", "--config", config, "--db", unchanged], tmp_path, env={"GROWTHLOOP_POSTS_PER_HOUR": "abc"}
    )
    line = _refused_with_one_line(proc, "posts_per_hour")
    assert "GROWTHLOOP_POSTS_PER_HOUR" in line, f"the message blames the wrong source: {line!r}"


def test_bad_nested_environment_variable_is_named(unchanged: Path, tmp_path: Path) -> None:
    proc = run_cli(["status", "--db", unchanged], tmp_path, env={"GROWTHLOOP_JOBS__POST__INTERVAL": "5x"})
    _refused_with_one_line(proc, "jobs.post.interval", "GROWTHLOOP_JOBS__POST__INTERVAL")


# -- a schema newer than the code -----------------------------------------------------------------------------

FUTURE = "9999_future"


@pytest.fixture(scope="module")
def future_db(module_dir: Path) -> Path:
    cwd = module_dir / "future-cwd"
    cwd.mkdir()
    db = init_db(module_dir / "future.db", cwd)
    engine = sqlite_engine(db)
    with engine.begin() as conn:
        assert conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE}).rowcount == 1
    engine.dispose()
    return db


NEWER_COMMANDS = {
    "simulate": ["simulate", "--days", "1", "--start", SIM_START],
    "simulate-resume": ["simulate", "--resume"],
    "status": ["status"],
    "posts": ["posts"],
    "jobs-list": ["jobs", "list"],
    "jobs-run": ["jobs", "run", "learn"],
    "learn-show": ["learn", "show"],
    "init": ["init"],
    "db-upgrade": ["db", "upgrade"],
}


@pytest.mark.parametrize("name", list(NEWER_COMMANDS))
def test_schema_newer_than_the_code_is_refused(name: str, future_db: Path, tmp_path: Path) -> None:
    before = dump_tables(future_db)
    proc = run_cli([*NEWER_COMMANDS[name], "--db", future_db], tmp_path)
    assert proc.returncode == 2, describe(proc)
    assert "newer" in proc.stderr and FUTURE in proc.stderr, describe(proc)
    assert _one_line(proc)
    after = dump_tables(future_db)
    assert after == before, "a command wrote to a database whose schema is newer than the code"
    assert after["alembic_version"] == [(FUTURE,)]


# -- a database never initialised --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["status"], ["posts"], ["jobs", "list"], ["simulate", "--days", "1"]],
    ids=["status", "posts", "jobs-list", "simulate"],
)
def test_uninitialised_database_says_run_init(command: list[str], tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    proc = run_cli([*command, "--db", db], tmp_path)
    line = _refused_with_one_line(proc)
    assert "growthloop init" in line and "not initialised" in line, line
    if db.exists():
        assert dump_tables(db) == {}, "a refused command created tables"


@pytest.mark.parametrize("command", [["status"], ["posts"]], ids=["status", "posts"])
def test_refused_command_creates_no_database_file(command: list[str], tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    proc = run_cli([*command, "--db", db], tmp_path)
    assert proc.returncode == 2, describe(proc)
    assert not db.exists(), f"{db.name} was created ({db.stat().st_size} bytes) by a command that refused to run"


# -- a simulation started twice, or resumed when there is none ----------------------------------------------------


@pytest.fixture(scope="module")
def simulated_db(module_dir: Path) -> Path:
    cwd = module_dir / "sim-cwd"
    cwd.mkdir()
    db = init_db(module_dir / "simulated.db", cwd)
    proc = run_cli(["simulate", "--days", "0.25", "--db", db, "--start", SIM_START, "--json"], cwd)
    assert proc.returncode == 0, describe(proc)
    return db


def test_simulate_again_without_resume_is_refused(simulated_db: Path, tmp_path: Path) -> None:
    before = dump_tables(simulated_db)
    proc = run_cli(["simulate", "--days", "1", "--db", simulated_db, "--start", "2026-04-01T00:00:00+00:00"], tmp_path)
    assert proc.returncode != 0, describe(proc)
    assert "already holds a simulation" in proc.stderr and "--resume" in proc.stderr, describe(proc)
    assert dump_tables(simulated_db) == before, "the refused simulation changed the database"


def test_resume_without_a_simulation_says_nothing_to_resume(unchanged: Path, tmp_path: Path) -> None:
    proc = run_cli(["simulate", "--resume", "--db", unchanged, "--json"], tmp_path)
    assert proc.returncode != 0, describe(proc)
    assert "nothing to resume" in proc.stderr, describe(proc)
    assert proc.stdout.strip() == "", describe(proc)


# -- unknown names ------------------------------------------------------------------------------------------------

UNKNOWN_NAMES = {
    "job": (["jobs", "run", "no_such_job"], "no_such_job", "learn"),
    "dimension": (["learn", "show", "--dimension", "no_such_dim"], "no_such_dim", "generator"),
}


@pytest.mark.parametrize("case", list(UNKNOWN_NAMES))
def test_unknown_name_exits_2(case: str, unchanged: Path, tmp_path: Path) -> None:
    args, name, known = UNKNOWN_NAMES[case]
    proc = run_cli([*args, "--db", unchanged], tmp_path)
    assert proc.returncode == 2, describe(proc)
    assert name in proc.stderr and known in proc.stderr, describe(proc)
    assert proc.stdout.strip() == "", describe(proc)


@pytest.mark.parametrize("case", list(UNKNOWN_NAMES))
def test_unknown_name_is_one_line(case: str, unchanged: Path, tmp_path: Path) -> None:
    args, name, known = UNKNOWN_NAMES[case]
    proc = run_cli([*args, "--db", unchanged], tmp_path)
    assert proc.returncode == 2, describe(proc)
    line = _one_line(proc)
    assert name in line and known in line, line
