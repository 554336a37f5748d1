"""`growthloop worker`, `growthloop dispatch`, `simulate --accounts N` and `bench-workers`: many accounts on
Celery workers over PostgreSQL and a broker (growthloop/distributed)."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from growthloop.cli.common import (
    ConfigOption,
    DbOption,
    console,
    err,
    print_json,
    settings_from,
    user_errors,
)
from growthloop.config import Settings
from growthloop.distributed.local import require_broker, require_postgres, spawn_workers, stop_workers, wait_for_workers
from growthloop.errors import UsageError

BrokerOption = Annotated[
    str | None,
    typer.Option(
        "--broker",
        help="Broker URL: amqp://… (RabbitMQ) or redis://… (env GROWTHLOOP_BROKER_URL; "
        "default amqp://guest:guest@127.0.0.1:5672//).",
        show_default=False,
    ),
]
QueueOption = Annotated[
    str | None,
    typer.Option(
        "--queue", help="Queue name; default: one derived from the database, shared by its workers and dispatcher."
    ),
]
AccountsOption = Annotated[
    int,
    typer.Option(
        "--accounts",
        help="Simulate this many accounts through the workers (PostgreSQL and a broker; 0: one account in-process).",
        min=0,
        max=10_000,
    ),
]
WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        help="With --accounts: start this many local worker processes for the run (0: use the running workers).",
        min=0,
        max=64,
    ),
]
MAX_WORKERS = 64


def _settings(db: str | None, config: Path | None, broker: str | None) -> Settings:
    settings = settings_from(config, db, None)
    if broker is not None:
        settings = settings.model_copy(update={"broker_url": broker})
    return settings


def _queue(settings: Settings, queue: str | None) -> str:
    from growthloop.distributed.celery_app import queue_name

    return queue or queue_name(settings.database_url)


def worker(
    db: DbOption = None,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    queue: QueueOption = None,
    name: Annotated[str | None, typer.Option(help="The worker's node name (default: worker-PID@host).")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log events as JSON lines.")] = False,
    loglevel: Annotated[str, typer.Option(help="Celery's log level (DEBUG, INFO, WARNING, ERROR).")] = "WARNING",
    stats_file: Annotated[
        str | None, typer.Option(hidden=True, help="Append each run's delay after its due time (benchmark).")
    ] = None,
    max_accounts: Annotated[
        int,
        typer.Option(help="Accounts whose wiring the worker keeps (least recently served out first).", min=1),
    ] = 256,
) -> None:
    """Run the accounts' jobs that the dispatcher (or `simulate --accounts`) publishes: a Celery worker, one job
    at a time, over PostgreSQL. Stop it with Ctrl-C or SIGTERM (it finishes the run it is in)."""
    from growthloop.logging import configure_logging

    with user_errors():
        if loglevel.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise UsageError(f"--loglevel: unknown level {loglevel!r} (DEBUG, INFO, WARNING, ERROR)")
        settings = _settings(db, config, broker)
        require_postgres(settings.database_url, "a worker")
        require_broker(settings.broker_url)
        from growthloop.distributed.celery_app import configure, safe_broker
        from growthloop.distributed.tasks import init_worker

        configure_logging(json_output=log_json, quiet=loglevel.upper() not in ("DEBUG", "INFO"))
        context = init_worker(settings, stats_file, max_accounts)
        q = _queue(settings, queue)
        celery = configure(settings.broker_url, q)
        node = name or f"worker-{os.getpid()}@%h"
        err.print(
            f"growthloop worker {node.replace('%h', os.uname().nodename)}: database {context.store.safe_url()}, "
            f"broker {safe_broker(settings.broker_url)}, queue {q}",
            highlight=False,
        )
    w = celery.Worker(
        pool="solo",
        concurrency=1,
        queues=[q],
        hostname=node,
        loglevel=loglevel.upper(),
        without_mingle=True,
        without_gossip=True,
        quiet=True,
    )
    w.start()
    raise typer.Exit(int(w.exitcode or 0))


def dispatch(
    db: DbOption = None,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    queue: QueueOption = None,
    every: Annotated[float, typer.Option(help="Seconds between looks at the schedule.", min=0.1, max=3600)] = 5.0,
    once: Annotated[bool, typer.Option(help="Dispatch what is due now, then exit.")] = False,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log events as JSON lines.")] = False,
) -> None:
    """Publish every account's due jobs to the workers, each (account, job, due time) once, until stopped."""
    from growthloop.bootstrap import open_store
    from growthloop.distributed.celery_app import configure, safe_broker
    from growthloop.distributed.dispatch import publisher
    from growthloop.distributed.runner import DispatchLoop
    from growthloop.logging import configure_logging

    with user_errors():
        settings = _settings(db, config, broker)
        require_postgres(settings.database_url, "the dispatcher")
        require_broker(settings.broker_url)
        store = open_store(settings)
        configure_logging(json_output=log_json, quiet=True)
        q = _queue(settings, queue)
        configure(settings.broker_url, q)
        err.print(
            f"growthloop dispatch: database {store.safe_url()}, broker {safe_broker(settings.broker_url)}, queue {q}",
            highlight=False,
        )
        loop = DispatchLoop(store, settings, publisher(virtual=False), say=lambda m: err.print(m, highlight=False))
        if once:
            n = loop.once(datetime.now(UTC))
            console.print(f"dispatched {n} due slots")
            return
        stop = threading.Event()

        def request_stop(*_: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        loop.forever(every, stop)


def simulate_accounts(
    n: int,
    workers: int,
    days: float,
    world: str | None,
    seed: int | None,
    start: datetime | None,
    capabilities: str | None,
    db: str | None,
    config: Path | None,
    broker: str | None,
    json: bool,
    single_only: bool = False,
    queue: str | None = None,
) -> None:
    """`simulate --accounts N`: see growthloop/distributed/coordinator.py."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from growthloop.bootstrap import open_store
    from growthloop.distributed.celery_app import configure
    from growthloop.distributed.coordinator import account_names, prepare, run_accounts
    from growthloop.distributed.dispatch import batch_publisher, publisher
    from growthloop.logging import configure_logging
    from growthloop.simulation import plan_simulation

    with user_errors():
        if single_only:
            raise UsageError("--accounts runs a new multi-account simulation: --resume and --truth are for one account")
        if capabilities is not None:
            from growthloop.adapters.platforms.sim.profiles import PROFILE_NAMES

            if capabilities not in PROFILE_NAMES:
                raise UsageError(
                    f"--capabilities: unknown platform {capabilities!r} (known: {', '.join(PROFILE_NAMES)})"
                )
        settings = _settings(db, config, broker)
        require_postgres(settings.database_url, "simulate --accounts")
        require_broker(settings.broker_url)
        plan = plan_simulation(world or settings.world, seed, days, start, capabilities)
        store = open_store(settings)
        q = _queue(settings, queue)
        configure(settings.broker_url, q)
        configure_logging(json_output=False, quiet=True)
        procs = spawn_workers(workers, settings.database_url, settings.broker_url, q) if workers else []
        try:
            # workers already running answer within a second, but a loaded machine has delayed a Redis
            # broker's reply past 3 s (the whole wait, once): 10 s before calling them missing
            have = wait_for_workers(q, max(1, workers), timeout=60 if workers else 10)
            if have == 0:
                raise UsageError(
                    f"no worker consumes queue {q}: start `growthloop worker --db …` (same database and broker), "
                    "or pass --workers N"
                )
            accounts = prepare(store, settings, plan, account_names("sim", n))
            out = err if json else console
            out.print(f"simulating {n} accounts x {days:g} days through {have} workers (queue {q})", highlight=False)
            with Progress(
                TextColumn("simulating"),
                BarColumn(),
                TextColumn("day {task.fields[day]:.2f}"),
                TimeElapsedColumn(),
                console=out,
                transient=json,
            ) as bar:
                task = bar.add_task("sim", total=1.0, day=0.0)
                summary = run_accounts(
                    store,
                    accounts,
                    publisher(virtual=True),
                    progress=lambda done, total: bar.update(task, completed=done / total, day=done / 86400),
                    on_broker_away=lambda why: out.print(
                        f"broker unreachable ({why}); waiting for it", highlight=False
                    ),
                    stall=settings.republish_after,
                    publish_batch=batch_publisher(),
                )
        finally:
            stop_workers(procs)
    if json:
        print_json(summary)
    else:
        print_accounts_summary(summary)


def print_accounts_summary(s: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="accounts")
    for col in ("account", "published", "max/rolling h", "followers", "attribution", "failed runs"):
        table.add_column(col, justify="left" if col == "account" else "right")
    for name, a in s["accounts"].items():
        f = a["followers"]
        table.add_row(
            name,
            str(a["posts"]["published"]),
            str(a["posts"]["max_in_any_rolling_hour"]),
            f"{f['first']} -> {f['last']} ({(f['gained'] or 0):+d})",
            str(a["attribution"]["rows"]),
            str(a["failed_runs"]),
        )
    console.print(table)
    t = s["total"]
    console.print(
        f"total: {t['accounts']} accounts, {t['posts_published']} posts published (at most "
        f"{t['max_in_any_rolling_hour']} in any rolling hour of one account), followers {t['followers_gained']:+d}, "
        f"{t['job_runs']} job runs ({t['failed_runs']} failed, {t['runs_left_running']} left running), "
        f"{t['ticks']} ticks in {t['wall_seconds']} s ({t['job_runs_per_second']} runs/s)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(worker)
    app.command()(dispatch)
    from growthloop.cli.bench_workers import bench_workers

    app.command("bench-workers")(bench_workers)
