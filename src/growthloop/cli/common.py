"""Options and error handling shared by every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from growthloop.config import Settings, load_settings
from growthloop.errors import ConfigError, GrowthloopError, SchemaError, UsageError

console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database: a SQLite file path or a SQLAlchemy URL (env GROWTHLOOP_DATABASE_URL).",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Settings file (TOML). Default: ./growthloop.toml if present (env GROWTHLOOP_CONFIG).",
        show_default=False,
    ),
]
AccountOption = Annotated[
    str | None, typer.Option("--account", help="Account name (env GROWTHLOOP_ACCOUNT).", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print data as JSON instead of tables.")]

T = TypeVar("T")


def database_url(db: str | None) -> str | None:
    """A bare path means a SQLite file; anything with '://' is a URL."""
    if db is None:
        return None
    return db if "://" in db else f"sqlite:///{db}"


def settings_from(config: Path | None, db: str | None, account: str | None, **overrides: Any) -> Settings:
    return load_settings(config, database_url=database_url(db), account=account, **overrides)


def fail(message: str, status: int) -> NoReturn:
    """One plain line on stderr, whatever the terminal's width, with no markup read into it."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(status)


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input ends in one clear line on stderr and exit status 2; nothing else is printed."""
    try:
        yield
    except (ConfigError, SchemaError, UsageError) as exc:
        fail(str(exc), 2)
    except GrowthloopError as exc:
        fail(str(exc), 1)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")


def guarded(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()
