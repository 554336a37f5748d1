"""`growthloop simulate`: the real jobs against the audience simulator, on a virtual clock."""

from __future__ import annotations

import json as _json
from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from growthloop.adapters.store.store import SqlStore
from growthloop.bootstrap import wire_simulation
from growthloop.cli import render
from growthloop.cli.common import (
    MAX_DAYS,
    MAX_ID,
    AccountOption,
    ConfigOption,
    DbOption,
    JsonOption,
    bounded,
    check_writable,
    console,
    err,
    print_json,
    simulation_start,
    user_errors,
)
from growthloop.cli.lease import WaitOption, account_lease
from growthloop.cli.session import session
from growthloop.config import Settings
from growthloop.errors import UsageError
from growthloop.logging import configure_logging
from growthloop.simulation import check_can_run, load_plan, plan_simulation, run_simulation


def simulate(
    ctx: typer.Context,
    days: Annotated[
        float, typer.Option(help="Simulated days to run (0.01 to 3650).", callback=bounded(0.01, MAX_DAYS))
    ] = 30,
    world: Annotated[str | None, typer.Option(help="World file (TOML); default: the bundled default world.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; overrides the world's.", min=0, max=MAX_ID)] = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            help="Virtual start (UTC, 2000 to 2100); default: the world's, else `days` before now, on the hour.",
            callback=simulation_start,
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the simulation already in this database.")] = False,
    truth: Annotated[str | None, typer.Option(help="Write the simulator's ground truth to this JSON file.")] = None,
    capabilities: Annotated[
        str | None,
        typer.Option(help="Simulate this platform's capabilities (x, bluesky, mastodon); default: the world's."),
    ] = None,
    wait: WaitOption = 0,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Run the real jobs against the audience simulator on a virtual clock, then print the summary."""
    s = session(ctx)
    with user_errors():
        settings = s.settings
        if truth:
            check_writable(truth, "--truth")
        plan = (
            None
            if resume
            else plan_simulation(
                world or settings.world,
                seed,
                days,
                start,
                _profile_name(capabilities),
            )
        )
        store = s.open_store()
        check_can_run(store, settings.account, resume)
        configure_logging(json_output=False, quiet=True)
        with account_lease(store, settings.account, wait) as lease:
            out = err if json else console
            render.startup_banner(settings, store, out)
            with Progress(
                TextColumn("simulating"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("day {task.fields[day]:.1f}"),
                TimeElapsedColumn(),
                console=out,
                transient=json,
            ) as bar:
                task = bar.add_task("sim", total=1.0, day=0.0)
                summary = run_simulation(
                    store,
                    settings,
                    plan,
                    resume,
                    progress=lambda done, total: bar.update(task, completed=done / total, day=done / 86400),
                    lease=lease,
                )
        if truth:
            _write_truth(store, settings, truth)
        if json:
            print_json(summary)
        else:
            render.simulation_summary(summary)


def _profile_name(name: str | None) -> str | None:
    from growthloop.adapters.platforms.sim.profiles import PROFILE_NAMES

    if name is not None and name not in PROFILE_NAMES:
        raise UsageError(f"--capabilities: unknown platform {name!r} (known: {', '.join(PROFILE_NAMES)})")
    return name


def _write_truth(store: SqlStore, settings: Settings, path: str) -> None:
    plan, now = load_plan(store, settings.account)
    _, platform, _ = wire_simulation(settings, store, plan.world, plan.start, now)
    with open(path, "w", encoding="utf-8") as fh:
        _json.dump(platform.ground_truth(now), fh, indent=1, default=str)
