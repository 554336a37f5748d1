"""Local worker processes, for `simulate --accounts N --workers K` and `bench-workers`, and the checks the
commands make before they start any: a PostgreSQL database (workers share it) and a reachable broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import make_url

from growthloop.errors import UsageError


def require_postgres(database_url: str, what: str) -> None:
    """Workers share one database: SQLite is for one process (`growthloop run`)."""
    try:
        backend = make_url(database_url).get_backend_name()
    except Exception:  # noqa: BLE001 - a URL that does not parse is refused by the store with its reason
        return
    if backend == "sqlite":
        raise UsageError(
            f"{what} needs PostgreSQL (--db postgresql://…): SQLite is for one process, use `growthloop run` "
            "or `growthloop simulate` for a single account on SQLite"
        )


def require_broker(url: str) -> None:
    from growthloop.distributed.celery_app import broker_problem, safe_broker

    problem = broker_problem(url)
    if problem is not None:
        raise UsageError(f"broker {safe_broker(url)} unreachable ({problem}); start it, or give --broker URL")


def spawn_workers(
    n: int,
    db_url: str,
    broker: str,
    queue: str,
    stats_file: str | None = None,
    log_dir: Path | None = None,
    max_accounts: int | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start `n` local `growthloop worker` processes (each one job at a time)."""
    procs = []
    for i in range(n):
        args = [
            sys.executable,
            "-c",
            "from growthloop.cli.app import main; main()",
            "worker",
            "--db",
            db_url,
            "--broker",
            broker,
            "--queue",
            queue,
            "--name",
            f"w{i + 1}-{os.getpid()}@%h",
        ]
        if stats_file:
            args += ["--stats-file", stats_file]
        if max_accounts is not None:
            args += ["--max-accounts", str(max_accounts)]
        out = open(log_dir / f"worker-{i + 1}.log", "ab") if log_dir else subprocess.DEVNULL  # noqa: SIM115
        procs.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_for_workers(queue: str, n: int, timeout: float = 60) -> int:
    """How many workers consume `queue`, waiting up to `timeout` for `n` of them."""
    from growthloop.distributed.celery_app import app

    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        try:
            # `limit`: the answer comes as soon as n workers replied, instead of after the whole second
            replies = app.control.inspect(timeout=1.0, limit=n).active_queues() or {}
        except Exception:  # noqa: BLE001 - the broker blinked: look again
            replies = {}
        seen = sum(1 for queues in replies.values() if any(q.get("name") == queue for q in queues or []))
        if seen >= n or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)
