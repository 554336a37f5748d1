"""The benchmark of docs/distributed.md (`growthloop bench-workers`): N simulated accounts x D days through K
local workers, for each K asked, on a fresh PostgreSQL database each: wall time, job runs per second, p95 delay
from due to start, peak PostgreSQL connections, peak memory per worker, and the ratios between the first
worker count and the others."""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

from growthloop.errors import UsageError


def check_server(server: str) -> None:
    """The benchmark's workers share one database: the server must be PostgreSQL."""
    try:
        backend = make_url(server).get_backend_name()
    except Exception as exc:
        raise UsageError(f"--server: not a database URL ({type(exc).__name__})") from None
    if backend != "postgresql":
        raise UsageError("--server must be a PostgreSQL URL (the workers share one database)")


def bench_workers(
    accounts: int,
    days: float,
    counts: list[int],
    server: str,
    broker: str,
    seed: int,
    start: datetime,
    note: Callable[[str], None] = lambda _line: None,
    max_accounts: int | None = None,
    vacuum_every: float = 60,
) -> dict[str, Any]:
    """One run per worker count in `counts`, and the ratios of the first to the others."""
    runs = []
    for k in counts:
        runs.append(_one(accounts, days, k, server, broker, seed, start, note, max_accounts, vacuum_every))
        # printed at once, so that a long benchmark cut short keeps the runs it finished
        note(f"  run done: {json.dumps(runs[-1])}")
    result: dict[str, Any] = {"accounts": accounts, "days": days, "runs": runs}
    if len(runs) > 1:
        base = runs[0]
        result["ratios"] = {
            f"{base['workers']}/{r['workers']}": {
                "throughput": round(base["job_runs_per_second"] / r["job_runs_per_second"], 2),
                "wall": round(r["wall_seconds"] / base["wall_seconds"], 2),
            }
            for r in runs[1:]
        }
    return result


def _one(
    n: int,
    days: float,
    k: int,
    server: str,
    broker: str,
    seed: int,
    start: datetime,
    note: Callable[[str], None],
    max_accounts: int | None = None,
    vacuum_every: float = 60,
) -> dict[str, Any]:
    from growthloop.adapters.store.store import SqlStore
    from growthloop.config import load_settings
    from growthloop.distributed.celery_app import configure, queue_name
    from growthloop.distributed.coordinator import account_names, prepare, run_accounts
    from growthloop.distributed.dispatch import batch_publisher, publisher
    from growthloop.distributed.local import spawn_workers, stop_workers, wait_for_workers
    from growthloop.logging import configure_logging
    from growthloop.simulation import plan_simulation

    admin_url = (
        server.replace("postgresql://", "postgresql+psycopg://", 1) if "+" not in server.split("://")[0] else server
    )
    name = f"growthloop_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    procs: list[Any] = []
    store: SqlStore | None = None
    sampler_stop = threading.Event()
    peak = {"pg": 0}

    def sample() -> None:
        while not sampler_stop.wait(0.25):
            try:
                with admin.connect() as conn:
                    c = conn.execute(text("select count(*) from pg_stat_activity where datname = :d"), {"d": name})
                    peak["pg"] = max(peak["pg"], int(c.scalar_one()))
            except Exception:  # noqa: BLE001 - a sample missed
                pass

    vacuum = _VacuumStandIn(url, every_s=vacuum_every)
    try:
        store = SqlStore(url)
        store.upgrade()
        configure_logging(json_output=False, quiet=True)
        settings = load_settings(None, database_url=url)
        q = queue_name(url)
        configure(broker, q)
        with tempfile.TemporaryDirectory(prefix="growthloop-bench-") as tmp:
            stats = str(Path(tmp) / "delays.txt")
            procs = spawn_workers(k, url, broker, q, stats_file=stats, log_dir=Path(tmp), max_accounts=max_accounts)
            if wait_for_workers(q, k, timeout=90) < k:
                raise UsageError(f"only some of the {k} workers came up (logs were in {tmp})")
            plan = plan_simulation(None, seed, days, start)
            accounts = prepare(store, settings, plan, account_names("sim", n))
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            vacuum.start()
            note(f"  running {n} accounts x {days:g} days with {k} worker(s)…")
            t0 = time.perf_counter()
            summary = run_accounts(
                store,
                accounts,
                publisher(virtual=True),
                progress=_progress_notes(store, procs, t0, note),
                stall=settings.republish_after,
                publish_batch=batch_publisher(),
            )
            wall = time.perf_counter() - t0
            with store.connect() as conn:
                in_jobs = (
                    float(conn.execute(text("select coalesce(sum(wall_ms), 0) from job_runs")).scalar_one()) / 1000
                )
            rss = [mb for mb in (_peak_rss_mb(p.pid) for p in procs) if mb is not None]
            delays = sorted(float(x) for x in Path(stats).read_text().split()) if Path(stats).exists() else []
            busy, gaps, messages = _messages(Path(stats + ".messages"))
        sampler_stop.set()
        vacuum.stop()
        total = summary["total"]
        return {
            "workers": k,
            "wall_seconds": round(wall, 1),
            "job_runs": total["job_runs"],
            "job_runs_per_second": round(total["job_runs"] / wall, 1),
            "p95_delay_ms": round(_pct(delays, 0.95) * 1000, 1) if delays else None,
            "p50_delay_ms": round(statistics.median(delays) * 1000, 1) if delays else None,
            "peak_pg_connections": peak["pg"],
            "peak_worker_rss_mb": max(rss) if rss else None,
            "posts_published": total["posts_published"],
            "runs_left_running": total["runs_left_running"],
            "ticks": total["ticks"],
            # the share of the workers' wall time spent inside jobs (the rest: lease, ledger, messages, idle
            # at the end of each tick)
            "busy_in_jobs": round(in_jobs / (wall * k), 2),
            # the share of the workers' wall time spent inside messages (jobs, lease, ledger), and the wait
            # between the end of a worker's message and the start of its next
            "busy_in_messages": round(busy / (wall * k), 2),
            # the same, over the ticks only (the wall time less the per-account summaries at the end)
            "ticks_seconds": total["wall_seconds"],
            "busy_in_messages_during_ticks": round(busy / (total["wall_seconds"] * k), 2),
            "idle_between_messages_s": round(sum(gaps), 1),
            "messages": messages,
            "p50_gap_ms": round(statistics.median(gaps) * 1000, 1) if gaps else None,
            "p95_gap_ms": round(_pct(gaps, 0.95) * 1000, 1) if gaps else None,
            "vacuum": vacuum.figures(),
        }
    finally:
        sampler_stop.set()
        vacuum.stop()
        stop_workers(procs)
        if store is not None:
            store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class _VacuumStandIn:
    """What autovacuum does on a server that runs it: `VACUUM (ANALYZE)` of the benchmark's database every
    `every_s` seconds, from a thread beside the run, when the server's autovacuum is off (as on this project's
    CI machines). Without it the ledger's, the leases' and attribution's dead rows pile up (600,000 in
    `post_attribution` after 3 simulated days of 200 accounts) and every job reads through them, so the later
    days measure a server no one runs in production. 0 turns it off."""

    def __init__(self, url: str, every_s: float) -> None:
        self.url, self.every_s = url, every_s
        self.server_autovacuum: bool | None = None
        self.runs, self.seconds = 0, 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                self.server_autovacuum = str(conn.execute(text("SHOW autovacuum")).scalar_one()) == "on"
        finally:
            engine.dispose()
        if not self.server_autovacuum and self.every_s > 0:
            self._thread = threading.Thread(target=self._loop, name="vacuum-stand-in", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            while not self._stop.wait(self.every_s):
                t0 = time.perf_counter()
                try:
                    with engine.connect() as conn:
                        conn.execute(text("VACUUM (ANALYZE)"))
                except Exception:  # noqa: BLE001 - the database dropped at the end, or busy: the next round
                    continue
                self.runs += 1
                self.seconds += time.perf_counter() - t0
        finally:
            engine.dispose()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=600)
            self._thread = None

    def figures(self) -> dict[str, Any]:
        return {
            "server_autovacuum": self.server_autovacuum,
            "stand_in_every_s": self.every_s if not self.server_autovacuum else None,
            "stand_in_runs": self.runs,
            "stand_in_seconds": round(self.seconds, 1),
        }


def _progress_notes(
    store: Any, procs: list[Any], t0: float, note: Callable[[str], None], every_s: float = 6 * 3600
) -> Callable[[float, float], None]:
    """A line every `every_s` simulated seconds: virtual time, wall time, job runs so far and the rate since the
    last line (later days cost more than the first), and the workers' memory now."""
    last: dict[str, float] = {"virtual": 0.0, "wall": t0, "runs": 0}

    def progress(done: float, total: float) -> None:
        if done - last["virtual"] < every_s and done < total:
            return
        with store.connect() as conn:
            runs = int(conn.execute(text("select count(*) from job_runs")).scalar_one())
        now = time.perf_counter()
        rate = (runs - last["runs"]) / max(now - last["wall"], 1e-9)
        rss = [mb for mb in (_rss_mb(p.pid, "VmRSS:") for p in procs) if mb is not None]
        note(
            f"    day {done / 86400:.2f} of {total / 86400:g}: wall {now - t0:.0f} s, {runs} job runs, "
            f"{rate:.1f} runs/s since the last line, worker memory {', '.join(f'{mb:.0f}' for mb in rss)} MB"
        )
        last.update(virtual=done, wall=now, runs=runs)

    return progress


def _messages(path: Path) -> tuple[float, list[float], int]:
    """From the workers' message log (pid, start, end): the time inside messages, the sorted gaps between a
    worker's message and its next, and the number of messages."""
    if not path.exists():
        return 0.0, [], 0
    by_pid: dict[str, list[tuple[float, float]]] = {}
    for line in path.read_text().splitlines():
        pid, t0, t1 = line.split()
        by_pid.setdefault(pid, []).append((float(t0), float(t1)))
    busy, gaps, n = 0.0, [], 0
    for spans in by_pid.values():
        spans.sort()
        n += len(spans)
        busy += sum(t1 - t0 for t0, t1 in spans)
        gaps += [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]
    return busy, sorted(gaps), n


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def _peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory (VmHWM), in MB."""
    return _rss_mb(pid, "VmHWM:")


def _rss_mb(pid: int, field: str) -> float | None:
    """A memory field of /proc/PID/status (VmHWM: the peak, VmRSS: now), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
