"""`growthloop accounts add | list | pause | resume | remove`, and the one-screen summary of every account that
`status --all-accounts` and `doctor --all-accounts` print."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from growthloop.account_env import account_variable
from growthloop.accounts import (
    PLATFORMS,
    add_account,
    get_account,
    pause_account,
    remove_account,
    resume_account,
    settings_for,
)
from growthloop.adapters.store.store import SqlStore
from growthloop.audit.doctor import FAIL, Check, check_credentials
from growthloop.audit.overview import PAUSED, RUNNING, AccountLine, doctor_all, overview, summary_cells
from growthloop.bootstrap import open_store, real_clock
from growthloop.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    console,
    database_url,
    print_json,
    settings_from,
    user_errors,
)
from growthloop.cli.session import Session
from growthloop.config import Settings, load_settings
from growthloop.errors import UsageError
from growthloop.simulation import has_simulation, load_plan

accounts_app = typer.Typer(
    help="The accounts of a deployment: add, list, pause, resume, remove. Each account's secrets are "
    "environment variables named GROWTHLOOP_ACCOUNTS__<NAME>__<VARIABLE> (see README, Many accounts).",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="The account's name.", show_default=False)]

# The secrets each platform reads, as the single-account variables (account_env.py gives each account's names).
_SECRETS = {
    "x": ("GROWTHLOOP_X_ACCESS_TOKEN", "GROWTHLOOP_X_ACCESS_TOKEN_SECRET"),
    "mastodon": ("GROWTHLOOP_MASTODON_ACCESS_TOKEN",),
    "bluesky": ("GROWTHLOOP_BLUESKY_HANDLE", "GROWTHLOOP_BLUESKY_APP_PASSWORD"),
}


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")


def _login() -> str:
    try:
        return getpass.getuser()[:64] or "unknown"
    except (KeyError, OSError):
        return "unknown"


def _deployment(db: str | None, config: Path | None = None) -> tuple[Settings, SqlStore]:
    settings = settings_from(config, db, None)
    return settings, open_store(settings)


@accounts_app.command("add")
def accounts_add(
    name: NameArgument,
    platform: Annotated[
        str | None,
        typer.Option(
            help=f"One of {', '.join(PLATFORMS)}; default: the --config file's platform, else sim.",
            show_default=False,
        ),
    ] = None,
    world: Annotated[
        Path | None, typer.Option(help="World file of the simulated platform (sim only).", show_default=False)
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="The account's own settings file (TOML, no secrets); default: the deployment's settings.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Register an account. Its jobs run from the next dispatch on (workers) or with `run --account NAME`."""
    with user_errors():
        if platform is None:
            platform = load_settings(config, account=name).platform if config is not None else "sim"
        base = load_settings(None, database_url=database_url(db))  # the deployment's: GROWTHLOOP_CONFIG or ./
        store = open_store(base)
        account = add_account(store, name, platform, world, config, real_clock().now())
        console.print(f"account {escape(account.name)} added: platform {account.platform}", highlight=False)
        for variable in _SECRETS.get(account.platform, ()):
            console.print(f"  its secret: {account_variable(account.name, variable)}", highlight=False)


@accounts_app.command("list")
def accounts_list(
    checks: Annotated[
        bool, typer.Option("--checks/--no-checks", help="Run each account's doctor checks (reads only).")
    ] = True,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Every account: platform, state (running, paused, idle), doctor's verdict, followers, last run."""
    with user_errors():
        settings = settings_from(config, db, None)
        store = open_store(settings, readonly=True)
        now_for = _now_for(store)
        report = doctor_all(store, settings, now_for) if checks else None
        lines = overview(store, real_clock().now(), now_for, report)
        if json:
            print_json([line.as_dict() for line in lines])
            return
        print_overview(lines)


@accounts_app.command("pause")
def accounts_pause(
    name: NameArgument,
    by: Annotated[str | None, typer.Option(help="Who pauses it (default: the login name).")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Pause every job of an account until `accounts resume`: running processes and workers skip its slots."""
    with user_errors():
        _, store = _deployment(db, config)
        account = pause_account(store, name, real_clock().now(), by or _login())
        console.print(f"account {escape(name)} paused by {escape(account.paused_by or '')}", highlight=False)


@accounts_app.command("resume")
def accounts_resume(name: NameArgument, db: DbOption = None, config: ConfigOption = None) -> None:
    """Resume a paused account: its jobs run again from their next due time."""
    with user_errors():
        _, store = _deployment(db, config)
        resume_account(store, name)
        console.print(f"account {escape(name)} resumed", highlight=False)


@accounts_app.command("remove")
def accounts_remove(
    name: NameArgument,
    purge: Annotated[bool, typer.Option("--purge", help="Delete every row of the account too.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Remove an account: its jobs stop and it leaves the lists; its data stays unless --purge."""
    with user_errors():
        _, store = _deployment(db, config)
        rows = remove_account(store, name, purge, real_clock().now())
        if purge:
            console.print(f"account {escape(name)} purged: {rows} rows deleted", highlight=False)
        else:
            console.print(
                f"account {escape(name)} removed; its data is kept (`accounts remove {escape(name)} --purge` "
                "deletes it)",
                highlight=False,
            )


def registered_settings(s: Session, store: SqlStore, **overrides: object) -> Settings:
    """The settings of a command run for one account (`run --account NAME`, `jobs run`), put on its Session: an
    account registered with `accounts add` runs with its own platform, world, settings file and secrets
    (accounts.settings_for); the deployment's own account, or a name never registered, with the settings as
    given."""
    settings = s.settings
    base = settings_from(s.config, s.db, None, **overrides)
    if settings.account == base.account:
        return settings
    try:
        account = get_account(store, settings.account)
    except UsageError:
        return settings  # not registered: the single-account commands register it on first use
    s.replace_settings(settings_for(account, base))
    return s.settings


# -- every account on one screen --------------------------------------------------------------------------


def _now_for(store: SqlStore) -> Callable[[str], datetime]:
    """An account's time: its simulation's virtual time, else the real time (read once)."""
    real = real_clock().now()

    def now_for(name: str) -> datetime:
        return load_plan(store, name)[1] if has_simulation(store, name) else real

    return now_for


_STYLE = {FAIL: "bold red", "warn": "yellow", "pass": "green"}


def print_overview(lines: list[AccountLine], hint: str | None = None) -> None:
    """One line per account, the failing ones first (then `hint`, if any)."""
    if not lines:
        console.print("no accounts: add one with `growthloop accounts add NAME`")
        return
    failing = sum(1 for line in lines if line.verdict == FAIL)
    paused = sum(1 for line in lines if line.state == PAUSED)
    running = sum(1 for line in lines if line.state == RUNNING)
    table = Table(
        title=f"{len(lines)} accounts: {failing} failing checks, {paused} paused, {running} running",
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    rows = [summary_cells(line) for line in lines]
    headers = ("account", "platform", "state", "followers", "posted 24h", "last run", "checks")
    for i, col in enumerate(headers):
        last = i == len(headers) - 1  # only the checks give way to a narrow terminal
        table.add_column(
            col,
            justify="right" if col in ("followers", "posted 24h") else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=None if last else max(len(col), *(len(r[i]) for r in rows)),
        )
    for line, cells in zip(lines, rows, strict=True):
        style = _STYLE.get(line.verdict, "")
        checks = escape(cells[-1])
        table.add_row(*(escape(c) for c in cells[:-1]), f"[{style}]{checks}[/]" if style else checks)
    console.print(table)
    if hint:
        console.print(hint, highlight=False)


def status_all_accounts(settings: Settings, json: bool) -> None:
    """`status --all-accounts`: each account's state, followers, posts and last run, one line each."""
    store = open_store(settings, readonly=True)
    now_for = _now_for(store)
    lines = overview(store, real_clock().now(), now_for, doctor_all(store, settings, now_for))
    if json:
        print_json([line.as_dict() for line in lines])
    else:
        print_overview(lines)


def doctor_all_accounts(settings: Settings, store: SqlStore) -> tuple[dict[str, list[Check]], list[AccountLine]]:
    """`doctor --all-accounts`: every account's checks with its own settings (and, on a real platform, one
    harmless call with its own credentials), and the summary lines."""

    def credentials(account_settings: Settings, now: datetime) -> list[Check]:
        return [] if account_settings.platform == "sim" else [check_credentials(account_settings, store, now)]

    now_for = _now_for(store)
    report = doctor_all(store, settings, now_for, credentials)
    lines = overview(store, real_clock().now(), now_for, report)
    return {line.name: report[line.name] for line in lines}, lines  # failing first


__all__ = [
    "accounts_app",
    "doctor_all_accounts",
    "print_overview",
    "register",
    "registered_settings",
    "status_all_accounts",
]
