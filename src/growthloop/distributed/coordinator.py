"""`growthloop simulate --accounts N`: N simulated accounts through the workers, on one shared virtual clock.

Each account has its own world seed and its own simulation state (`app_state`, as `simulate` keeps it).
The coordinator advances the virtual clock to the earliest due job of any account, dispatches that tick's
due slots (one message per account), and waits until every slot of the tick has finished in the ledger
before the next tick. A worker killed mid-tick leaves its message unacknowledged: the broker gives it to
another worker, which takes the run over. A tick that makes no progress for `stall` seconds has its
unfinished slots published again (a message lost with a broker's disk, say): a slot that already ran is a
no-op, so publishing twice is safe, and never publishing is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import func, select, tuple_

from growthloop.accounts import add_account
from growthloop.adapters.platforms.sim.platform import SimPlatform
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts as accounts_table
from growthloop.adapters.store.tables import job_runs
from growthloop.config import Settings
from growthloop.distributed.dispatch import (
    TICK_CHANNEL,
    Dispatched,
    Publish,
    PublishBatch,
    batches,
    dispatch_due,
    next_due,
    sync_schedule,
)
from growthloop.distributed.settings import account_settings
from growthloop.errors import UsageError
from growthloop.report import summarize
from growthloop.simulation import SimulationPlan, _save_plan, has_simulation, load_plan

log = structlog.get_logger("growthloop.distributed")
MAX_ACCOUNTS = 10_000
POLL_S = (0.01, 0.2)  # the wait for a tick's runs polls the ledger from every 10 ms, slowing to 200 ms
STALL_S: float = Settings.model_fields["republish_after"].default  # one default, the setting's
LISTEN_FALLBACK_S = 1.0  # with a TickListener, the ledger is read at least this often during a tick


class BrokerAway(Exception):
    """Publishing failed: the broker cannot be reached (for now)."""


def account_names(prefix: str, n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


@dataclass(frozen=True)
class SimAccount:
    name: str
    settings: Settings
    plan: SimulationPlan


def prepare(store: SqlStore, base: Settings, plan: SimulationPlan, names: Sequence[str]) -> list[SimAccount]:
    """Register the accounts, each with its own world seed (the plan's seed + its index), and their schedules.

    Refused before anything is written when one of the names is taken.
    """
    with store.connect() as conn:
        existing = set(conn.execute(select(accounts_table.c.name)).scalars())  # removed ones too
    taken = [n for n in names if has_simulation(store, n) or n in existing]
    if taken:
        raise UsageError(
            f"this database already holds an account named {taken[0]!r}"
            + (f" and {len(taken) - 1} more" if len(taken) > 1 else "")
            + ": use another --db (a multi-account simulation is not resumed)"
        )
    out = []
    for i, name in enumerate(names):
        world = plan.world.with_seed((plan.world.seed or 0) + i)
        own = SimulationPlan(world, plan.world_text, plan.world_path, plan.start, plan.end)
        add_account(store, name, "sim", None, None, plan.start)
        settings = account_settings(store, base, name).model_copy(update={"seed": world.seed})
        _save_plan(store, settings, own)
        sync_schedule(store, settings, plan.start)
        out.append(SimAccount(name, settings, own))
    return out


class TickListener:
    """The coordinator's ear on PostgreSQL: a worker NOTIFYs `TICK_CHANNEL` (payload: the account) when it has
    finished a simulated account's message, so the wait for a tick sleeps until then instead of polling the
    ledger every few milliseconds (which took a core's share of PostgreSQL from the workers). The ledger stays
    the record of what finished: a notification only says when to look."""

    def __init__(self, store: SqlStore) -> None:
        self._fairy: Any = store.engine.raw_connection()
        conn = self._fairy.driver_connection
        assert conn is not None
        self._conn: Any = conn
        self._conn.autocommit = True
        self._conn.execute(f"LISTEN {TICK_CHANNEL}")

    def wait(self, timeout: float) -> set[str]:
        """The accounts heard from within `timeout` seconds (returns at the first, with any already queued)."""
        heard: set[str] = set()
        for note in self._conn.notifies(timeout=timeout, stop_after=1):
            heard.update(note.payload.split(","))  # a message of several accounts names them all
        if heard:
            for note in self._conn.notifies(timeout=0):
                heard.update(note.payload.split(","))
        return heard

    def close(self) -> None:
        try:
            self._fairy.invalidate()  # a LISTENing connection does not go back to the pool
        except Exception:  # noqa: BLE001 - closing what may already be broken
            pass


def wait_for_tick(
    store: SqlStore,
    dispatched: Dispatched,
    republish: Callable[[dict[str, list[tuple[str, datetime]]]], None],
    stall: float = STALL_S,
    listener: TickListener | None = None,
) -> None:
    """Until every dispatched slot has a finished run in the ledger (not `running`).

    With a `listener`, the ledger is read again once every account with a slot missing has said it finished
    a message since the last read (or after `LISTEN_FALLBACK_S`: a notification can be lost with its
    worker); without one, the ledger is polled."""
    missing = set(dispatched.keys())
    delay, last_progress = POLL_S[0], time.monotonic()
    heard: set[str] = set()
    jr = job_runs
    while missing:
        keys = list(missing)
        done: set[tuple[str, str, datetime]] = set()
        with store.connect() as conn:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                done.update(
                    (r.account, r.job, r.scheduled_for)
                    for r in conn.execute(
                        select(jr.c.account, jr.c.job, jr.c.scheduled_for).where(
                            tuple_(jr.c.account, jr.c.job, jr.c.scheduled_for).in_(chunk), jr.c.status != "running"
                        )
                    )
                )
        if done:
            missing -= done
            last_progress, delay = time.monotonic(), POLL_S[0]
            if not missing:
                break
        elif time.monotonic() - last_progress > stall:
            again: dict[str, list[tuple[str, datetime]]] = {}
            for account, job, sf in missing:
                again.setdefault(account, []).append((job, sf))
            log.warning("coordinator.republish", slots=len(missing), accounts=len(again))
            republish(again)
            last_progress = time.monotonic()
        if listener is None:
            time.sleep(delay)
            delay = min(POLL_S[1], delay * 1.5)
            continue
        waiting = {a for a, _, _ in missing}
        heard = set()
        deadline = time.monotonic() + LISTEN_FALLBACK_S
        while not waiting <= heard and (left := deadline - time.monotonic()) > 0:
            heard |= listener.wait(left)


def run_accounts(
    store: SqlStore,
    accounts: Sequence[SimAccount],
    publish: Publish,
    progress: Callable[[float, float], None] | None = None,
    on_broker_away: Callable[[str], None] | None = None,
    stall: float = STALL_S,
    publish_batch: PublishBatch | None = None,
) -> dict[str, Any]:
    """Advance the shared virtual clock tick by tick to the end; returns the per-account and total summary.

    With `publish_batch`, a tick's accounts go in a few messages of several accounts each (`batches`)."""
    wall0 = time.perf_counter()
    names = [a.name for a in accounts]
    start, end = accounts[0].plan.start, accounts[0].plan.end

    def send(account: str, slots: list[list[str]], at: str | None, due_wall: float) -> None:
        publish(account, slots, at, due_wall)

    listener = TickListener(store) if store.dialect == "postgresql" else None
    try:
        ticks = _advance(store, names, start, end, send, on_broker_away, stall, listener, progress, publish_batch)
    finally:
        if listener is not None:
            listener.close()
    _save_now(store, names, end)
    wall = time.perf_counter() - wall0
    per_account = {a.name: _summary(store, a, end, wall) for a in accounts}
    return {"accounts": per_account, "total": _total(store, per_account, names, wall, ticks)}


def _advance(
    store: SqlStore,
    names: Sequence[str],
    start: datetime,
    end: datetime,
    send: Publish,
    on_broker_away: Callable[[str], None] | None,
    stall: float,
    listener: TickListener | None,
    progress: Callable[[float, float], None] | None,
    publish_batch: PublishBatch | None = None,
) -> int:
    """The ticks from `start` to `end`: each dispatched, then waited for; returns how many there were."""
    now, saved, ticks = start, start, 0
    total = (end - start).total_seconds()
    while True:
        due = next_due(store, names)
        if due is None or due > end:
            break
        now = max(now, due)
        dispatched = _dispatch_patiently(store, now, send, names, on_broker_away, publish_batch)
        ticks += 1

        def republish(again: dict[str, list[tuple[str, datetime]]], at: datetime = now) -> None:
            messages = [(account, [[j, sf.isoformat()] for j, sf in slots]) for account, slots in again.items()]
            if publish_batch is not None:
                for batch in batches(messages):
                    _publish_patiently(partial(publish_batch, batch, at.isoformat(), time.time()), on_broker_away)
                return
            for account, message in messages:
                _publish_patiently(partial(send, account, message, at.isoformat(), time.time()), on_broker_away)

        wait_for_tick(store, dispatched, republish, stall, listener)
        if now - saved >= timedelta(hours=1):
            _save_now(store, names, now)
            saved = now
        if progress is not None:
            progress((now - start).total_seconds(), total)
    return ticks


def _dispatch_patiently(
    store: SqlStore,
    now: datetime,
    publish: Publish,
    names: Sequence[str],
    on_away: Callable[[str], None] | None,
    publish_batch: PublishBatch | None = None,
) -> Dispatched:
    told = False
    while True:
        try:
            return dispatch_due(store, now, publish, names, virtual=True, publish_batch=publish_batch)
        except Exception as exc:  # noqa: BLE001 - kombu's and amqp's errors alike: the broker is away
            if not _is_broker_error(exc):
                raise
            if not told and on_away is not None:
                on_away(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                told = True
            time.sleep(1.0)


def _publish_patiently(send: Callable[[], None], on_away: Callable[[str], None] | None) -> None:
    while True:
        try:
            send()
            return
        except Exception as exc:  # noqa: BLE001
            if not _is_broker_error(exc):
                raise
            if on_away is not None:
                on_away(f"{type(exc).__name__}: {exc}")
            time.sleep(1.0)


def _is_broker_error(exc: BaseException) -> bool:
    from kombu.exceptions import OperationalError

    return isinstance(exc, OperationalError | ConnectionError | OSError)


def _save_now(store: SqlStore, names: Sequence[str], now: datetime) -> None:
    with store.begin() as conn:
        for name in names:
            store.set_state(conn, name, "virtual_now", now.isoformat())


def _summary(store: SqlStore, account: SimAccount, end: datetime, wall: float) -> dict[str, Any]:
    plan, _ = load_plan(store, account.name)
    platform = SimPlatform(store, account.name, plan.world, plan.start)
    return summarize(store, account.settings, platform, plan.start, end, wall)


def _total(
    store: SqlStore, per_account: dict[str, dict[str, Any]], names: Sequence[str], wall: float, ticks: int
) -> dict[str, Any]:
    s = list(per_account.values())
    with store.connect() as conn:
        runs = int(
            conn.execute(
                select(func.count()).select_from(job_runs).where(job_runs.c.account.in_(list(names)))
            ).scalar_one()
        )
        running = int(
            conn.execute(
                select(func.count())
                .select_from(job_runs)
                .where(job_runs.c.account.in_(list(names)), job_runs.c.status == "running")
            ).scalar_one()
        )
    return {
        "accounts": len(s),
        "posts_published": sum(x["posts"]["published"] for x in s),
        "max_in_any_rolling_hour": max((x["posts"]["max_in_any_rolling_hour"] for x in s), default=0),
        "followers_gained": sum(x["followers"]["gained"] or 0 for x in s),
        "attribution_rows": sum(x["attribution"]["rows"] for x in s),
        "failed_runs": sum(x["failed_runs"] for x in s),
        "job_runs": runs,
        "runs_left_running": running,
        "ticks": ticks,
        "wall_seconds": round(wall, 2),
        "job_runs_per_second": round(runs / wall, 1) if wall > 0 else None,
    }
