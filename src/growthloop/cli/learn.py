"""`growthloop learn`: what the loop has learned, and what other policies would have gained."""

from __future__ import annotations

from typing import Annotated

import typer

from growthloop.bootstrap import make_records
from growthloop.cli import render
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, JsonOption, print_json, user_errors
from growthloop.cli.session import session
from growthloop.domain import DIMENSIONS
from growthloop.errors import UsageError
from growthloop.listings import learned
from growthloop.loop.evaluate import evaluate_logged

EVALUABLE = ("uniform", "seed", "bayes")

app = typer.Typer(help="What the loop has learned, and what other policies would have gained.", no_args_is_help=True)


@app.command("show")
def learn_show(
    ctx: typer.Context,
    dimension: Annotated[str | None, typer.Option(help=f"Only this one of: {', '.join(DIMENSIONS)}")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """The performance tables: per value, uses, averages, posterior mean with its 95% interval, confidence."""
    s = session(ctx)
    with user_errors():
        if dimension is not None and dimension not in DIMENSIONS:
            raise UsageError(f"unknown dimension {dimension!r}; known: {', '.join(DIMENSIONS)}")
        store = s.open_store(readonly=True)
        perf, model, as_of = learned(store, s.settings)
        dims = [dimension] if dimension else list(DIMENSIONS)
        if json:
            print_json({d: [vars(v) | {} for v in perf[d]] for d in dims})
            return
        render.performance(perf, dims, model, as_of)


@app.command("evaluate")
def learn_evaluate(
    ctx: typer.Context,
    policy: Annotated[
        str, typer.Option(help="The policy to evaluate: bayes (ours, as learned now), seed (the old design), uniform.")
    ] = "uniform",
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """What POLICY would have gained per post, estimated off-line from the logged decisions and their
    propensities: IPS, self-normalised IPS, doubly robust (with the learned model), pseudo-inverse."""
    s = session(ctx)
    with user_errors():
        if policy not in EVALUABLE:
            raise UsageError(f"unknown policy {policy!r}; known: {', '.join(EVALUABLE)}")
        store = s.open_store(readonly=True)
        result = evaluate_logged(store, make_records(store), s.settings, s.settings.account, policy, s.clock().now())
        if json:
            print_json(
                {
                    "policy": policy,
                    "decisions": result.decisions,
                    "logged_by": result.logged_by,
                    "logged_value": result.logged_value.as_dict() if result.logged_value else None,
                    "estimates": {k: e.as_dict() for k, e in result.estimates.items()},
                    "notes": result.notes,
                }
            )
            return
        render.evaluation(policy, result)
