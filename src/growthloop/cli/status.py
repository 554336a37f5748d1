"""`growthloop status`: the pipeline at a glance."""

from __future__ import annotations

from typing import Annotated

import typer

from growthloop.audit.spend import platform_spend
from growthloop.cli import render
from growthloop.cli.accounts import status_all_accounts
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, JsonOption, print_json, user_errors
from growthloop.cli.session import session
from growthloop.cli.spend import print_spend_line
from growthloop.status import pipeline_status


def status(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
    all_accounts: Annotated[bool, typer.Option("--all-accounts", help="One line per account, failing first.")] = False,
) -> None:
    """The pipeline at a glance: each stage's counts, the follower trend, each job's last run, top values."""
    s = session(ctx)
    with user_errors():
        if all_accounts:
            return status_all_accounts(s.settings, json)  # cli/accounts.py
        store = s.open_store(readonly=True)
        now = s.clock().now()
        data = pipeline_status(store, s.settings.account, now)
        data["spend"] = platform_spend(store, s.settings, now)  # what the platform cost (audit/spend.py)
        if json:
            print_json(data)
        else:
            render.pipeline_status(data)
            print_spend_line(data["spend"])
