"""`growthloop serve` (the dashboard) and `growthloop bench-web` (its pages' server times)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from growthloop.bootstrap import account_names
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, JsonOption, console, print_json, user_errors
from growthloop.cli.session import Session, session
from growthloop.errors import UsageError
from growthloop.logging import configure_logging

if TYPE_CHECKING:
    from starlette.applications import Starlette

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on; anything but loopback exposes the pages.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """The dashboard in a browser: followers, posts, what was learned, jobs, replies to approve.

    Approving or rejecting a reply needs the token in GROWTHLOOP_WEB_TOKEN (without it the pages are read-only).
    """
    with user_errors():
        app = _web_app(session(ctx), host)
        import uvicorn

        configure_logging()
        mode = "actions enabled" if os.environ.get("GROWTHLOOP_WEB_TOKEN") else "read-only: GROWTHLOOP_WEB_TOKEN unset"
        console.print(f"growthloop dashboard on http://{host}:{port}/ ({mode})")
        uvicorn.run(app, host=host, port=port, log_level="warning")


def _web_app(s: Session, host: str) -> Starlette:
    try:
        from growthloop.web.app import create_app
    except ImportError as exc:
        raise UsageError(
            f"the dashboard needs the web extra ({exc.name} is missing): pip install 'growthloop[web]'"
        ) from None
    store = s.open_store()
    known = account_names(store)
    if s.account is not None and s.account not in known:
        raise UsageError(f"--account: no account {s.account!r} in {store.safe_url()} (accounts: {', '.join(known)})")
    hosts = list(LOOPBACK) if host in LOOPBACK else None
    return create_app(s.settings, store, os.environ.get("GROWTHLOOP_WEB_TOKEN"), allowed_hosts=hosts)


def bench_web(
    ctx: typer.Context,
    db: DbOption = None,
    accounts: Annotated[
        int, typer.Option(help="Also time a database of this many copies of the account (0: skip).", min=0)
    ] = 100,
    copies_db: Annotated[
        Path | None, typer.Option(help="Where to build that database (default: next to --db, '-xN' added).")
    ] = None,
    repeat: Annotated[int, typer.Option(help="Requests per page; the median is reported.", min=1)] = 15,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Each dashboard page's median server time, in process, on --db and on a many-account copy of it."""
    from growthloop.web.bench import format_text, run_bench

    s = session(ctx)
    with user_errors():
        s.open_store().dispose()  # a wrong --db stops here, with its one-line error
        result = run_bench(s.settings, accounts, copies_db, repeat, progress=lambda line: print(line, file=sys.stderr))
        if json:
            print_json(result)
        else:
            sys.stdout.write(format_text(result) + "\n")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command("bench-web")(bench_web)
