"""`growthloop simulate`: the real jobs on a virtual clock against the simulator, resumable.

The simulation's own facts (its world file, seed, start, end and current virtual time) are kept in
`app_state`, so a killed run resumes with `--resume`, and doctor/status can judge at virtual time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from growthloop.adapters.platforms.sim.world import World, default_world_path, load_world, parse_world
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import job_runs
from growthloop.bootstrap import ensure_account, wire_simulation
from growthloop.config import Settings
from growthloop.errors import UsageError
from growthloop.jobs.lease import AccountLease
from growthloop.jobs.runner import reap_stuck_runs
from growthloop.jobs.scheduler import Scheduler
from growthloop.report import summarize


class SimulationStateError(UsageError):
    pass


@dataclass(frozen=True)
class SimulationPlan:
    world: World
    world_text: str
    world_path: str
    start: datetime
    end: datetime


def default_start(days: float, now: datetime | None = None) -> datetime:
    """`days` ago on the hour, so a fresh run ends about now and NOW()-relative SQL (the seed's) makes sense."""
    now = now or datetime.now(UTC)
    return (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def plan_simulation(
    world_path: str | None, seed: int | None, days: float, start: datetime | None, platform: str | None = None
) -> SimulationPlan:
    """`platform` (x, bluesky, mastodon) replaces the world's: whose capabilities the simulated platform has."""
    path = Path(world_path) if world_path else default_world_path()
    world = load_world(path)
    if seed is not None:
        world = world.with_seed(seed)
    if platform is not None:
        world = world.model_copy(update={"platform": platform})
    begin = start or world.start or default_start(days)
    return SimulationPlan(world, path.read_text(encoding="utf-8"), str(path), begin, begin + timedelta(days=days))


def _save_plan(store: SqlStore, settings: Settings, plan: SimulationPlan) -> None:
    with store.begin() as conn:
        for key, value in {
            "sim_world_text": plan.world_text,
            "sim_world_path": plan.world_path,
            "sim_seed": plan.world.seed,
            "sim_platform": plan.world.platform,
            "sim_start": plan.start.isoformat(),
            "sim_end": plan.end.isoformat(),
            "virtual_now": plan.start.isoformat(),
            "config_fingerprint": settings.fingerprint(),
        }.items():
            store.set_state(conn, settings.account, key, value)


def load_plan(store: SqlStore, account: str) -> tuple[SimulationPlan, datetime]:
    with store.connect() as conn:
        text = store.get_state(conn, account, "sim_world_text")
        if text is None:
            raise SimulationStateError(f"nothing to resume: this database holds no simulation of account {account!r}")
        path = store.get_state(conn, account, "sim_world_path")
        seed = store.get_state(conn, account, "sim_seed")
        start = datetime.fromisoformat(store.get_state(conn, account, "sim_start"))
        end = datetime.fromisoformat(store.get_state(conn, account, "sim_end"))
        now = datetime.fromisoformat(store.get_state(conn, account, "virtual_now"))
        platform = store.get_state(conn, account, "sim_platform")
    world = parse_world(text, path).with_seed(seed)
    if platform is not None:
        world = world.model_copy(update={"platform": platform})
    return SimulationPlan(world, text, path, start, end), now


def _last_run_start(store: SqlStore, account: str) -> datetime | None:
    """The virtual time a killed run had reached: its stored time is saved only once a simulated hour."""
    with store.connect() as conn:
        return conn.execute(select(func.max(job_runs.c.started_at)).where(job_runs.c.account == account)).scalar()


def check_can_run(store: SqlStore, account: str, resume: bool) -> None:
    """Refuse a new simulation over an existing one, and a resume of nothing, before anything is written."""
    exists = has_simulation(store, account)
    if resume and not exists:
        raise SimulationStateError(f"nothing to resume: this database holds no simulation of account {account!r}")
    if not resume and exists:
        raise SimulationStateError(
            f"this database already holds a simulation of account {account!r}: "
            "use --resume to continue it, or another --db"
        )


def has_simulation(store: SqlStore, account: str) -> bool:
    with store.connect() as conn:
        return store.get_state(conn, account, "sim_world_text") is not None


def run_simulation(
    store: SqlStore,
    settings: Settings,
    plan: SimulationPlan | None,
    resume: bool,
    progress: Callable[[float, float], None] | None = None,
    lease: AccountLease | None = None,
) -> dict[str, Any]:
    """Run (or resume) a simulation to its end, holding the account's lease; returns the summary.

    The caller may hold the lease already (the CLI takes it before printing anything); else it is
    taken here, without waiting, and released at the end.
    """
    if lease is None:
        with AccountLease(store, settings.account) as held:
            return _run(store, settings, plan, resume, progress, held)
    return _run(store, settings, plan, resume, progress, lease)


class _GcState:
    depth = 0  # simulations running in this process (a test's threads may run several)
    threshold: tuple[int, int, int] = (700, 10, 10)


_GC = _GcState()


@contextmanager
def _steady_gc(threshold: int = 20_000) -> Iterator[None]:
    """Fewer and smaller cyclic garbage collections while the loop runs: the objects alive at its start (the
    imported modules, SQLAlchemy's tables, the wiring: about 150,000) are frozen out of the collector's scans,
    and the youngest generation is collected every `threshold` allocations instead of 700. What is
    collected is unchanged, only when; the settings are restored when the last simulation of the process
    ends (a test's process goes on)."""
    if _GC.depth == 0:
        _GC.threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(threshold, *_GC.threshold[1:])
    _GC.depth += 1
    try:
        yield
    finally:
        _GC.depth -= 1
        if _GC.depth == 0:
            gc.set_threshold(*_GC.threshold)
            gc.unfreeze()


def _run(
    store: SqlStore,
    settings: Settings,
    plan: SimulationPlan | None,
    resume: bool,
    progress: Callable[[float, float], None] | None,
    lease: AccountLease,
) -> dict[str, Any]:
    wall0 = time.perf_counter()
    check_can_run(store, settings.account, resume)
    if resume:
        plan, now = load_plan(store, settings.account)
        now = max(now, _last_run_start(store, settings.account) or now)
    else:
        if plan is None:
            raise ValueError("a new simulation needs a plan")
        if has_simulation(store, settings.account):
            raise SimulationStateError(
                f"this database already holds a simulation of account {settings.account!r}: "
                "use --resume to continue it, or another --db"
            )
        ensure_account(store, settings, plan.start)
        _save_plan(store, settings, plan)
        now = plan.start
    settings = settings.model_copy(update={"seed": plan.world.seed})
    wiring, platform, clock = wire_simulation(settings, store, plan.world, plan.start, now)
    # This process holds the account's lease, so no live process runs its jobs: a run still marked
    # running was cut off when its holder died (a kill), or its holder's lease expired.
    lease.renew()
    reap_stuck_runs(store, settings.account, now, settings, everything=True)
    scheduler = Scheduler(wiring)
    scheduler.sync_schedule(plan.start)
    total = (plan.end - plan.start).total_seconds()
    saved = {"at": now}

    def on_tick(at: datetime, _outcomes: object) -> None:
        lease.maybe_renew()  # between job runs; LeaseLost stops the simulation if it was taken over
        # The schedule table is what a resumed run continues from; the stored virtual time is for
        # readers (status, doctor), so once a simulated hour is enough.
        if at - saved["at"] >= timedelta(hours=1) or at >= plan.end:
            with store.begin() as conn:
                store.set_state(conn, settings.account, "virtual_now", at.isoformat())
            saved["at"] = at
        if progress is not None:
            progress((at - plan.start).total_seconds(), total)

    try:
        with _steady_gc():
            scheduler.run_until(plan.end, on_tick=on_tick)
    finally:
        scheduler.close()
    on_tick(clock.now(), None)
    return summarize(store, settings, platform, plan.start, clock.now(), time.perf_counter() - wall0)
