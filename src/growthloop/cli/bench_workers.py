"""`growthloop bench-workers`: the options and the printing of `distributed/benchmark.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from growthloop.cli.common import JsonOption, console, err, print_json, user_errors
from growthloop.cli.worker import BrokerOption
from growthloop.errors import UsageError


def bench_workers(
    accounts: Annotated[int, typer.Option(help="Simulated accounts.", min=1, max=10_000)] = 200,
    days: Annotated[float, typer.Option(help="Simulated days.", min=0.01, max=365)] = 7,
    workers: Annotated[list[int] | None, typer.Option(help="Worker processes (repeatable); default 2, then 1.")] = None,
    server: Annotated[
        str, typer.Option(help="PostgreSQL server URL; a fresh database is made on it per run, then dropped.")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    broker: BrokerOption = None,
    seed: Annotated[int, typer.Option(help="World seed of the first account (the others: +1, +2, …).", min=0)] = 1,
    start: Annotated[str, typer.Option(help="Virtual start (UTC, ISO).")] = "2026-03-02T00:00:00+00:00",
    max_accounts: Annotated[
        int | None, typer.Option(help="Accounts each worker keeps wired (the worker's --max-accounts).", min=1)
    ] = None,
    vacuum_every: Annotated[
        float,
        typer.Option(
            help="When the server's autovacuum is off: VACUUM (ANALYZE) the run's database every this many seconds, "
            "as autovacuum would (0: never).",
            min=0,
        ),
    ] = 60,
    json: JsonOption = False,
) -> None:
    """Benchmark the distributed engine (not a test: it prints figures)."""
    from growthloop.config import load_settings
    from growthloop.distributed import benchmark
    from growthloop.distributed.local import require_broker

    counts = workers or [2, 1]
    with user_errors():
        if any(not 1 <= k <= 64 for k in counts):
            raise UsageError("--workers: from 1 to 64")
        benchmark.check_server(server)
        broker_url = broker or load_settings(None).broker_url
        require_broker(broker_url)
        result = benchmark.bench_workers(
            accounts,
            days,
            counts,
            server,
            broker_url,
            seed,
            datetime.fromisoformat(start),
            note,
            max_accounts,
            vacuum_every,
        )
    if json:
        print_json(result)
        return
    console.print(f"bench-workers: {accounts} simulated accounts x {days:g} days on PostgreSQL", highlight=False)
    for r in result["runs"]:
        console.print(
            f"  {r['workers']} worker(s): wall {r['wall_seconds']} s, {r['job_runs']} job runs, "
            f"{r['job_runs_per_second']} runs/s, p95 delay due->start {r['p95_delay_ms']} ms "
            f"(p50 {r['p50_delay_ms']} ms), peak PostgreSQL connections {r['peak_pg_connections']}, "
            f"peak memory per worker {r['peak_worker_rss_mb']} MB, {r['posts_published']} posts, "
            f"{r['runs_left_running']} runs left running, share of worker time inside jobs {r['busy_in_jobs']}, "
            f"{_vacuum(r['vacuum'])}",
            highlight=False,
        )
    for label, ratio in result.get("ratios", {}).items():
        console.print(
            f"  ratio {label} workers: throughput x{ratio['throughput']}, wall time x{ratio['wall']}", highlight=False
        )


def _vacuum(v: dict[str, Any]) -> str:
    if v["server_autovacuum"]:
        return "the server's autovacuum on"
    if not v["stand_in_every_s"]:
        return "the server's autovacuum off and no stand-in"
    return f"the server's autovacuum off: VACUUM (ANALYZE) {v['stand_in_runs']} times ({v['stand_in_seconds']} s)"


def note(line: str) -> None:
    err.print(line, highlight=False, soft_wrap=True)
