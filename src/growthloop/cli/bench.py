"""`growthloop bench`: policies on simulated worlds over seeds, scored against the truth."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from growthloop.adapters.platforms.sim.world import default_world_path, load_world
from growthloop.cli.common import MAX_DAYS, JsonOption, bounded, err, print_json, user_errors
from growthloop.errors import UsageError


def bench(
    world: Annotated[
        list[Path] | None, typer.Option(help="World file (repeatable); default: every bundled world.")
    ] = None,
    days: Annotated[
        float, typer.Option(help="Simulated days per run (0.5 to 3650).", callback=bounded(0.5, MAX_DAYS))
    ] = 30,
    seeds: Annotated[int, typer.Option(help="Random seeds per world (common to every policy).", min=1, max=1000)] = 10,
    policies: Annotated[
        str, typer.Option(help="Comma-separated: oracle, uniform, seed, bayes (oracle and uniform anchor the score).")
    ] = "oracle,uniform,seed,bayes",
    workers: Annotated[int, typer.Option(help="Processes; default: one per core.", min=1, max=256)] = os.cpu_count()
    or 2,
    capabilities: Annotated[
        list[str] | None,
        typer.Option(help="Platform whose signals the learner sees (repeatable): x, bluesky, mastodon; default x."),
    ] = None,
    through_jobs: Annotated[
        bool,
        typer.Option(
            "--through-jobs",
            help="Run bayes, seed and uniform through the real jobs on a temporary SQLite store (replies and "
            "the gate included), as `simulate` does; slower. The oracle runs in memory.",
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Run policies on simulated worlds over seeds and score them against the truth (in memory, no database;
    with --through-jobs, through the loop's jobs and store).

    Prints per world and policy: followers gained (95% interval over seeds), the normalised score
    (gain - uniform) / (oracle - uniform), regret against the oracle, days to 90% of the oracle's daily
    rate, and how well attribution ranks against the true followers; then its own running time.
    """
    from growthloop.adapters.platforms.sim.profiles import PROFILE_NAMES
    from growthloop.bench import DEFAULT_POLICIES as BENCH_POLICIES  # loaded only for this command
    from growthloop.bench import format_text, run_bench

    with user_errors():
        worlds = [Path(w) for w in world] if world else sorted(default_world_path().parent.glob("*.toml"))
        for w in worlds:
            load_world(w)  # a bad world file stops here, with its one-line error
        names = [p.strip() for p in policies.split(",") if p.strip()]
        unknown = sorted(set(names) - set(BENCH_POLICIES))
        if unknown:
            raise UsageError(f"unknown policies: {', '.join(unknown)} (known: {', '.join(BENCH_POLICIES)})")
        caps = capabilities or ["x"]
        if any(c not in PROFILE_NAMES for c in caps):
            raise UsageError(f"--capabilities: unknown platform in {caps} (known: {', '.join(PROFILE_NAMES)})")
        with Progress(
            TextColumn("benchmark"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} {task.fields[label]}"),
            TimeElapsedColumn(),
            console=err,
            transient=json,
        ) as bar:
            task = bar.add_task("bench", total=None, label="")

            def progress(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, label=label)

            result = run_bench(
                worlds,
                days=days,
                seeds=seeds,
                policies=names,
                progress=progress,
                workers=workers,
                capabilities=caps,
                through_jobs=through_jobs,
            )
        if json:
            print_json(result)
        else:
            sys.stdout.write(format_text(result) + "\n")  # a wide table: not wrapped to the terminal
