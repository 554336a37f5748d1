"""`growthloop doctor`: the audit, automated."""

from __future__ import annotations

from typing import Annotated

import typer

from growthloop.audit.alerts import AlertNotifier
from growthloop.audit.doctor import FAIL, check_credentials, run_doctor, worst
from growthloop.bootstrap import account_names
from growthloop.cli import render
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, JsonOption, print_json, user_errors
from growthloop.cli.session import session


def doctor(
    ctx: typer.Context,
    all_accounts: Annotated[bool, typer.Option("--all-accounts", help="Check every account in the database.")] = False,
    notify: Annotated[
        bool, typer.Option(help="Post webhook alerts for checks that turned failing or recovered since the last run.")
    ] = False,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """The seed's audit, automated: each check passes, warns or fails, with the cause and the fix.

    Exits 1 when any check fails. On a simulation's database it judges at the simulation's virtual time.
    """
    s = session(ctx)
    with user_errors():
        settings = s.settings
        store = s.open_store(readonly=not notify)
        names = account_names(store) if all_accounts else [settings.account]
        now = s.clock().now()
        report = {name: run_doctor(store, settings.model_copy(update={"account": name}), name, now) for name in names}
        if settings.platform != "sim":
            for name in names:
                report[name].append(check_credentials(settings.model_copy(update={"account": name}), store, now))
        failing = any(worst(checks) == FAIL for checks in report.values())
        if notify:
            for name, checks in report.items():
                AlertNotifier(store, name, settings.alerts.webhook_url).notify(checks, now)
        if json:
            print_json(
                {
                    "now": now.isoformat(),
                    "accounts": {
                        name: {"state": worst(checks), "checks": [c.as_dict() for c in checks]}
                        for name, checks in report.items()
                    },
                }
            )
        else:
            for name, checks in report.items():
                render.doctor_report(name, now, checks)
        if failing:
            raise typer.Exit(1)
