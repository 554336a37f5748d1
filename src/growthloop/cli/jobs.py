"""`growthloop jobs`: list the scheduled jobs, run one now, pause and resume one."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Annotated

import typer

from growthloop.bootstrap import ensure_account
from growthloop.cli import render
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, JsonOption, console, print_json, user_errors
from growthloop.cli.lease import WaitOption, account_lease
from growthloop.cli.session import Session, session
from growthloop.errors import UsageError
from growthloop.jobs.pause import set_pause
from growthloop.jobs.registry import JOBS
from growthloop.jobs.runner import manual_slot
from growthloop.listings import job_list
from growthloop.logging import configure_logging

app = typer.Typer(help="The scheduled jobs.", no_args_is_help=True)


@app.command("list")
def jobs_list(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Each job with its interval, switch, pause, timeout and next due time."""
    s = session(ctx)
    with user_errors():
        store = s.open_store(readonly=True)
        rows = job_list(store, s.settings, s.scheduler().schedule())
        if json:
            print_json(rows)
            return
        render.job_list(rows)


@app.command("run")
def jobs_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(JOBS)}")],
    wait: WaitOption = 0,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Run one job once, now, and record the run like any scheduled one."""
    s = session(ctx)
    with user_errors():
        if name not in JOBS:
            raise UsageError(f"unknown job {name!r}; known jobs: {', '.join(JOBS)}")
        settings = s.settings
        store = s.open_store()
        configure_logging(json_output=False, quiet=json)
        with account_lease(store, settings.account, wait):
            scheduler = s.scheduler()  # a bad world or writer setting is refused before any write
            ensure_account(store, settings, datetime.now(UTC))
            try:
                now = scheduler.w.clock.now()
                outcome = scheduler.runner.run(name, manual_slot(store, settings.account, name, now))
            finally:
                scheduler.close()
        data = {
            "job": name,
            "status": outcome.status,
            "error": outcome.error,
            "items_in": outcome.result.items_in if outcome.result else None,
            "items_out": outcome.result.items_out if outcome.result else None,
            "idle_reason": outcome.result.idle_reason if outcome.result else None,
        }
        if json:
            print_json(data)
        else:
            console.print(data)
        if outcome.status in ("failed", "timed_out"):
            raise typer.Exit(1)


@app.command("pause")
def jobs_pause(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(JOBS)}")],
    by: Annotated[str | None, typer.Option(help="Who pauses it, shown by doctor (default: the login name).")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Pause one job until `jobs resume`: a running `growthloop run` skips it from its next tick on."""
    _set_pause(session(ctx), name, by or _login())


@app.command("resume")
def jobs_resume(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(JOBS)}")],
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Resume a paused job: it runs again at its next due time."""
    _set_pause(session(ctx), name, None)


def _set_pause(s: Session, name: str, by: str | None) -> None:
    with user_errors():
        if name not in JOBS:
            raise UsageError(f"unknown job {name!r}; known jobs: {', '.join(JOBS)}")
        if by is not None and not 0 < len(by) <= 64:
            raise UsageError("option --by: give a name of 1 to 64 characters")
        store = s.open_store()
        set_pause(store, s.settings, name, s.clock().now(), by)
        console.print(f"{name} {'paused' if by else 'resumed'} on account {s.settings.account}")


def _login() -> str:
    try:
        return getpass.getuser()[:64] or "unknown"
    except (KeyError, OSError):  # no login name in this environment (a container without a passwd entry)
        return "unknown"
