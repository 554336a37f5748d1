"""End-to-end helpers: the real `growthloop` command in a subprocess, and plain SQL looks at its database.

Every command runs in its own working directory (so no ./growthloop.toml is picked up), with every
GROWTHLOOP_* variable of the calling environment removed and a fixed terminal width (80 columns, what
Rich assumes when output is not a terminal), so the output does not depend on who runs the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, select, text

from growthloop.adapters.store.tables import app_state
from growthloop.config import Settings
from growthloop.jobs.registry import JOBS

SIM_START = "2026-03-02T00:00:00+00:00"  # tests/conftest.py START: a Monday, midnight UTC
ACCOUNT = "default"
# The jobs the registry declares, in its order, and their default intervals in seconds.
JOB_NAMES = tuple(JOBS)
DEFAULT_INTERVALS = {name: job.interval for name, job in Settings.model_fields["jobs"].default_factory().items()}
# Rate limits of docs/design.md#post (defaults): posts and replies per hour.
POSTS_PER_HOUR, REPLIES_PER_HOUR = 2, 4


def growthloop_cmd() -> list[str]:
    """The installed console script next to this interpreter, else the entry point through -c."""
    script = Path(sys.executable).with_name("growthloop")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from growthloop.cli.app import main; main()"]


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROWTHLOOP_")}
    env["COLUMNS"] = "80"
    env.pop("LINES", None)
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `growthloop ARGS` to completion; stdout and stderr captured as text."""
    return subprocess.run(
        [*growthloop_cmd(), *map(str, args)],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def invoke_cli(
    args: Sequence[object], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`growthloop ARGS` in this process (Typer's CliRunner), as `run_cli` runs it in a child: the same root
    command, error handling and exit status, in `cwd`, with `cli_env`'s variables, without a Python start-up
    (about 1 s of CPU). For tests of what a command prints and writes; what needs a real process (a kill, a
    signal, two processes at once, the installed console script) uses `run_cli` or `popen_cli`."""
    from typer.testing import CliRunner

    from growthloop.cli.app import app
    from growthloop.logging import configure_logging

    wanted = cli_env(env)
    changes: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
    changes.update({k: v for k, v in wanted.items() if os.environ.get(k) != v})
    argv = [str(a) for a in args]
    try:
        with contextlib.chdir(cwd):
            result = CliRunner().invoke(app, argv, env=changes, prog_name="growthloop")
    finally:
        configure_logging(quiet=True)  # as tests/conftest.py's _quiet_logs: a command may have set its own
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["growthloop", *argv], result.exit_code, result.stdout, result.stderr)


def popen_cli(args: Sequence[str], cwd: Path, stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    """Start `growthloop ARGS` without waiting (for kill-and-resume)."""
    return subprocess.Popen(
        [*growthloop_cmd(), *map(str, args)],
        cwd=cwd,
        env=cli_env(),
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"


def init_db(path: Path, cwd: Path, run: Callable[..., subprocess.CompletedProcess[str]] | None = None) -> Path:
    """`growthloop init --db PATH` through `run` (`run_cli`, a child process, unless given `invoke_cli`)."""
    proc = (run or run_cli)(["init", "--db", path], cwd)
    assert proc.returncode == 0, describe(proc)
    assert path.is_file()
    return path


def sqlite_engine(path: Path) -> Engine:
    """A plain engine on the file (no WAL pragma of ours: the test only reads, or writes a few cells)."""
    return create_engine(f"sqlite:///{path}")


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def dump_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: two dumps are equal iff nothing was written in between."""
    engine = sqlite_engine(path)
    try:
        with engine.connect() as conn:
            return {
                name: sorted((tuple(r) for r in conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
                for name in table_names(engine)
            }
    finally:
        engine.dispose()


def row_counts(dump: Mapping[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in dump.items()}


def app_state_rows(path: Path) -> list[tuple[Any, ...]]:
    engine = sqlite_engine(path)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(app_state))]
    finally:
        engine.dispose()


def copy_db(src: Path, dst: Path) -> Path:
    """Copy a SQLite database with its WAL files, if a process left any."""
    for suffix in ("", "-wal", "-shm"):
        f = Path(f"{src}{suffix}")
        if f.exists():
            shutil.copy2(f, f"{dst}{suffix}")
    return dst


def max_in_closed_hour(times: Sequence[Any]) -> int:
    """The most timestamps in any closed one-hour window [t, t + 1 h], computed independently of the product."""
    ordered = sorted(times)
    return max(
        (sum(1 for u in ordered[i:] if (u - t).total_seconds() <= 3600) for i, t in enumerate(ordered)), default=0
    )


def parse_json_stdout(proc: subprocess.CompletedProcess[str]) -> Any:
    """stdout must be one JSON document and nothing else."""
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"stdout is not valid JSON only ({exc})\n{describe(proc)}") from None


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "cwd"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("e2e")
