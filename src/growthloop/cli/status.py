"""`growthloop status`: the pipeline at a glance."""

from __future__ import annotations

import typer

from growthloop.cli import render
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, JsonOption, print_json, user_errors
from growthloop.cli.session import session
from growthloop.status import pipeline_status


def status(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """The pipeline at a glance: each stage's counts, the follower trend, each job's last run, top values."""
    s = session(ctx)
    with user_errors():
        store = s.open_store(readonly=True)
        data = pipeline_status(store, s.settings.account, s.clock().now())
        if json:
            print_json(data)
        else:
            render.pipeline_status(data)
