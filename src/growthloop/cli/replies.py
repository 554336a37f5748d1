"""`growthloop replies`: reply opportunities, and the decision on each drafted reply."""

from __future__ import annotations

from typing import Annotated

import typer

from growthloop.bootstrap import make_records
from growthloop.cli import render
from growthloop.cli.common import (
    MAX_ID,
    MAX_ROWS,
    AccountOption,
    ConfigOption,
    DbOption,
    JsonOption,
    console,
    print_json,
    user_errors,
)
from growthloop.cli.session import Session, session
from growthloop.errors import UsageError
from growthloop.loop.reply import decide_draft, list_opportunities

app = typer.Typer(help="Reply opportunities: list them, approve or reject drafted replies.", no_args_is_help=True)


@app.command("list")
def replies_list(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="Only this status: new, drafted, queued, rejected, skipped.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, best score first.", min=1, max=MAX_ROWS)] = 20,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Reply opportunities with their score, status and drafted reply. Their text is someone else's."""
    s = session(ctx)
    with user_errors():
        store = s.open_store(readonly=True)
        rows = list_opportunities(store, make_records(store), s.settings.account, status, limit)
        if json:
            print_json(rows)
            return
        render.reply_opportunities(rows)


@app.command("approve")
def replies_approve(
    ctx: typer.Context,
    opportunity: Annotated[int, typer.Argument(help="The id shown by `growthloop replies list`.", min=1, max=MAX_ID)],
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Queue a drafted reply: the post job publishes it within the reply rate limit."""
    _decide(session(ctx), opportunity, True)


@app.command("reject")
def replies_reject(
    ctx: typer.Context,
    opportunity: Annotated[int, typer.Argument(help="The id shown by `growthloop replies list`.", min=1, max=MAX_ID)],
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Reject a drafted reply: it is never posted."""
    _decide(session(ctx), opportunity, False)


def _decide(s: Session, opportunity: int, approve: bool) -> None:
    with user_errors():
        store = s.open_store()
        try:
            state = decide_draft(store, make_records(store), s.settings.account, opportunity, approve, s.clock().now())
        except (LookupError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        console.print(f"reply opportunity {opportunity}: {state}")
