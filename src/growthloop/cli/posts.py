"""`growthloop posts`: the account's recent content."""

from __future__ import annotations

from typing import Annotated

import typer

from growthloop.cli import render
from growthloop.cli.common import MAX_ROWS, AccountOption, ConfigOption, DbOption, JsonOption, print_json, user_errors
from growthloop.cli.session import session
from growthloop.listings import recent_content


def posts(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only posts with this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1, max=MAX_ROWS)] = 20,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Recent content: status, platform id, dimensions and text."""
    s = session(ctx)
    with user_errors():
        store = s.open_store(readonly=True)
        rows = recent_content(store, s.settings.account, status, limit)
        if json:
            print_json(rows)
            return
        render.recent_content(rows)
