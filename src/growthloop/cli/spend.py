"""`growthloop spend`: what the platform calls cost, per day and per category, beside a recount of the rows;
and the spend lines of `growthloop status`."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from growthloop.audit.spend import platform_spend, spend_report
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, JsonOption, console, print_json, user_errors
from growthloop.cli.session import session


def spend(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Platform spend per day and per category from the recorded calls, beside a recount (equal to the cent),
    and the month against the budget."""
    s = session(ctx)
    with user_errors():
        settings = s.settings
        store = s.open_store(readonly=True)
        report = spend_report(store, settings.account)
        report["status"] = platform_spend(store, settings, s.clock().now())
        if json:
            print_json(report)
            return
        days = Table(title=f"platform spend of {settings.account} per UTC day (USD)")
        for col in ("day", "recorded", "recount"):
            days.add_column(col, justify="right")
        for d in report["days"]:
            days.add_row(d["day"], f"{d['recorded_usd']:.4f}", f"{d['recount_usd']:.4f}")
        cats = Table(title="per purpose and per price category (USD)")
        for col in ("purpose / category", "recorded", "recount"):
            cats.add_column(col, justify="right")
        for name, v in {**report["purposes"], **{f"category {k}": v for k, v in report["categories"].items()}}.items():
            cats.add_row(name, f"{v['recorded_usd']:.4f}", f"{v['recount_usd']:.4f}")
        console.print(days, cats)
        verdict = "equal to the cent" if report["equal_to_the_cent"] else "[red]NOT equal[/red]"
        console.print(
            f"{report['calls']} priced calls, total ${report['total_usd']:.4f}, "
            f"recount ${report['recount_total_usd']:.4f}: {verdict}"
        )
        print_spend_line(report["status"])


def print_spend_line(s: dict[str, Any]) -> None:
    def money(v: float | None) -> str:
        return "n/a" if v is None else f"${v:.3f}"

    budgets = (
        ", ".join(
            f"{name} budget ${v:.2f}"
            for name, v in (("daily", s["daily_budget_usd"]), ("monthly", s["monthly_budget_usd"]))
            if v is not None
        )
        or "no budget"
    )
    level = {"ok": "ok", "degraded": "[yellow]degraded[/yellow]", "stopped": "[bold red]STOPPED[/bold red]"}[s["level"]]
    console.print(
        f"platform spend: ${s['today_usd']:.2f} today, ${s['month_usd']:.2f} in {s['month']} "
        f"(${s['projected_month_usd']:.2f} at this rate; {budgets}: {level}); per post {money(s['usd_per_post'])}, "
        f"per reply {money(s['usd_per_reply'])}, per attributed follower {money(s['usd_per_attributed_follower'])}"
    )
    if s["reason"]:
        console.print(f"  {s['reason']}")
    if s["credits_exhausted"]:
        console.print(
            f"  [bold red]credits exhausted[/bold red] since {s['credits_exhausted']['at']}: "
            "add credits at console.x.com"
        )
