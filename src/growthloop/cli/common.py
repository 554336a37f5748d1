"""Options and error handling shared by every command.

Every mistake a user can make ends in one line on stderr, `error: SOURCE: PROBLEM`, and exit status 2:
`user_errors()` turns our own `UserError`s into that line inside a command, and `OneLineErrors` (the root
command's class) does the same for what Typer refuses before a command runs (an unknown option, a missing
argument, a value of the wrong type). Anything else is a bug: one line and exit status 1, with its traceback
only under `--debug`.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer._click.exceptions import NoArgsIsHelpError  # not re-exported by typer: the help shown for no arguments
from typer.core import TyperGroup

from growthloop.adapters.platforms.sim.world import check_start
from growthloop.cli.session import database_url as database_url  # still importable from here
from growthloop.cli.session import remember
from growthloop.cli.session import settings_from as settings_from
from growthloop.errors import GrowthloopError, UsageError, UserError

console = Console()
err = Console(stderr=True)

# The options every command that reads the settings takes. Their callback notes each value on the command's
# Session (cli/session.py), which builds the settings and the store from them; the parameters a command
# declares for them are what makes Typer show them.

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database: a SQLite file path or a SQLAlchemy URL (env GROWTHLOOP_DATABASE_URL).",
        show_default=False,
        callback=remember,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Settings file (TOML). Default: ./growthloop.toml if present (env GROWTHLOOP_CONFIG).",
        show_default=False,
        callback=remember,
    ),
]
AccountOption = Annotated[
    str | None,
    typer.Option("--account", help="Account name (env GROWTHLOOP_ACCOUNT).", show_default=False, callback=remember),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print data as JSON instead of tables.")]

T = TypeVar("T")

# Bounds of the command-line numbers (README, Commands): ten years of simulated days, ids that fit a signed
# 64-bit column, and at most this many rows shown.
MAX_DAYS = 3650
MAX_ID = 2**63 - 1
MAX_ROWS = 10_000


def fail(message: str, status: int) -> NoReturn:
    """One plain line on stderr, whatever the terminal's width, with no markup read into it."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(status)


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input ends in one clear line on stderr and exit status 2; nothing else is printed."""
    try:
        yield
    except UserError as exc:
        fail(str(exc), 2)
    except GrowthloopError as exc:
        fail(str(exc), 1)


def check_writable(path: str, option: str) -> None:
    """A file a command writes at its end is checked at its start, so that a long run is not lost to a typo."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a directory")
    if not target.absolute().parent.is_dir():
        raise UsageError(f"{option} {path}: the directory {target.absolute().parent} does not exist")
    if not os.access(target if target.exists() else target.absolute().parent, os.W_OK):
        raise UsageError(f"{option} {path}: cannot be written (permission denied)")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")


def guarded(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()


def bounded(low: float, high: float) -> Callable[[float], float]:
    """An option callback: a finite number from `low` to `high` (Click's ranges let NaN through)."""

    def check(value: float) -> float:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise typer.BadParameter(f"{value:g} is not a number from {low:g} to {high:g}")
        return value

    return check


def simulation_start(value: datetime | None) -> datetime | None:
    """An option callback: --start in UTC (a time without an offset is UTC), within the simulator's range."""
    if value is None:
        return None
    try:
        return check_start(value.replace(tzinfo=UTC) if value.tzinfo is None else value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


DEBUG = "--debug"


def _one_line(text: str) -> str:
    return " ".join(text.split())


class OneLineErrors(TyperGroup):
    """The root command: usage errors are one line too, and a bug shows its traceback only under --debug."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        end = argv.index("--") if "--" in argv else len(argv)
        debug = DEBUG in argv[:end]
        if debug:  # accepted after the command too: moved to where the root command reads it
            argv = [DEBUG] + [a for i, a in enumerate(argv) if not (i < end and a == DEBUG)]
        try:
            code = super().main(
                args=argv, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra
            )
        except NoArgsIsHelpError as exc:  # Typer's rich help has been printed already; Click's plain one not
            if exc.format_message().strip():
                exc.show()
            code = exc.exit_code
        except typer.TyperException as exc:  # Click's usage errors: unknown option, missing argument, bad value
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else prog_name or "growthloop"
            hint = f" (see {command} --help)" if exc.exit_code == 2 else ""
            where = f"{command}: "
            sys.stderr.write(f"error: {where}{_one_line(exc.format_message())}{hint}\n")
            code = exc.exit_code
        except typer.Abort:
            sys.stderr.write("error: aborted\n")
            code = 1
        except UserError as exc:  # raised outside a command's user_errors() block
            sys.stderr.write(f"error: {_one_line(str(exc))}\n")
            code = 2
        except Exception as exc:
            if debug:
                raise
            sys.stderr.write(
                f"error: unexpected {type(exc).__name__}: {_one_line(str(exc))[:300]} "
                f"(a bug in growthloop; run again with {DEBUG} for its traceback)\n"
            )
            code = 1
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code
