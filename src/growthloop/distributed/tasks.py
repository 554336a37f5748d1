"""The workers' one task: run an account's due slots, each (job, scheduled_for) through the ledger.

A message names an account and its due slots (registry order), and for a simulation the virtual time of
its tick. The worker takes the account's lease first (jobs/lease.py): jobs of one account never run at the
same time, whichever workers hold their messages; a message for an account whose lease another live
process holds goes back to the queue a moment later. Holding the lease, the worker knows that no live
process runs the account's jobs, so a run still marked `running` was cut off by a dead worker: it is
reaped as interrupted and taken over (a resumption), while a run that finished makes its slot a no-op.
The post stage's write-ahead attempts settle a post whose outcome the dead worker never saw by asking
the platform, never by posting again.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, case, event, text, update

from growthloop.adapters.clocks import RealClock, VirtualClock
from growthloop.adapters.platforms.sim.platform import SimPlatform
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import job_schedule
from growthloop.bootstrap import make_generator, make_records, open_store, wire_live
from growthloop.config import Settings
from growthloop.distributed.applimits import share_app_limits
from growthloop.distributed.celery_app import app
from growthloop.distributed.dispatch import TICK_CHANNEL
from growthloop.distributed.settings import account_settings
from growthloop.jobs.lease import AccountLease, LeaseHeld, LeaseLost
from growthloop.jobs.registry import JOBS
from growthloop.jobs.runner import JobRunner, RunOutcome, Wiring, reap_stuck_runs
from growthloop.loop.history import LearningCache
from growthloop.simulation import load_plan

log = structlog.get_logger("growthloop.distributed")
LEASE_RETRY_S = 0.2  # a message whose account is busy elsewhere comes back this much later, doubling
LEASE_RETRY_MAX_S = 30.0
_NOTIFY = text("SELECT pg_notify(:channel, :account)")

# The earlier of the two, computed on the row as it is when the update takes it, not as the statement first
# saw it: the first messages of a tick can run before the dispatcher commits the move of the slot past now.
# A `WHERE next_due > wake_at` read the old row (next_due still the slot, not later than the wake), matched
# nothing and so never waited for that commit: the wake was lost, now and then, for the first accounts of a
# tick (seen as different posting times between two identical runs of 20 accounts).
_WAKE = (
    update(job_schedule)
    .where(job_schedule.c.account == bindparam("a"), job_schedule.c.job == bindparam("j"))
    .values(
        next_due=case(
            (job_schedule.c.next_due > bindparam("wake_at"), bindparam("wake_at")), else_=job_schedule.c.next_due
        )
    )
)


@dataclass
class _Account:
    wiring: Wiring
    runner: JobRunner
    virtual: bool


@dataclass
class WorkerContext:
    """What one worker process keeps: its store, its base settings, and each account's wiring once built
    (the learning caches check themselves against the store, so another worker's writes are seen)."""

    settings: Settings
    store: SqlStore
    stats_path: str | None = None
    max_accounts: int = 256  # the wirings kept, least recently used out first (each holds ~1 MB: see `account`)
    accounts: OrderedDict[tuple[str, bool], _Account] = field(default_factory=OrderedDict)
    counts: dict[str, int] = field(default_factory=dict)  # the last message's runs by status
    _sim_store: SqlStore | None = None

    def store_for(self, virtual: bool) -> SqlStore:
        """The store of an account's runs. A simulated account's (on PostgreSQL) commits without waiting for
        the WAL's flush to disk (`synchronous_commit = off`); see `_async_commit`."""
        if not virtual or self.store.dialect != "postgresql":
            return self.store
        if self._sim_store is None:
            self.store.engine.dispose()  # its idle connection is not needed while only simulations run
            self._sim_store = SqlStore(self.store.url)
            event.listen(self._sim_store.engine, "connect", _async_commit)
            # no round trip to test a pooled connection at each check-out (one a job run: 5 to 7 % of a
            # worker's time): a connection broken meanwhile (a restart of PostgreSQL) fails its message, which
            # the coordinator publishes again after its stall; the pool then opens a fresh one
            self._sim_store.engine.pool._pre_ping = False
        return self._sim_store

    def account(self, name: str, virtual: bool) -> _Account:
        """The account's wiring: built at its first message, then kept (its learning caches and simulated
        world make the next message cheaper) for the `max_accounts` most recently served accounts. A worker's
        memory grows about 0.9 MB an account it keeps; one dropped is built again at its next message."""
        key = (name, virtual)
        if key in self.accounts:
            self.accounts.move_to_end(key)
        else:
            store = self.store_for(virtual)
            settings = account_settings(store, self.settings, name)
            if virtual:
                plan, now = load_plan(store, name)
                settings = settings.model_copy(update={"seed": plan.world.seed})
                clock = VirtualClock(now)
                wiring = Wiring(
                    store=store,
                    platform=SimPlatform(store, name, plan.world, plan.start),
                    generator=make_generator(settings, store, clock),
                    clock=clock,
                    account=name,
                    settings=settings,
                    records=make_records(store),
                    learning=LearningCache(),
                )
            else:
                wiring = wire_live(settings, store, RealClock())
                if settings.platform == "x":  # X's per-app caps are shared by every account of the app
                    share_app_limits(wiring.platform, store, settings.x.base_url)
            self.accounts[key] = _Account(wiring, JobRunner(wiring), virtual)
            while len(self.accounts) > max(1, self.max_accounts):
                _, dropped = self.accounts.popitem(last=False)
                dropped.runner.close()
        return self.accounts[key]

    def run(self, name: str, slots: list[list[str]], now: str | None, due_wall: float | None) -> dict[str, int]:
        """One account's slots under its lease (LeaseHeld: another live process runs the account now)."""
        held = self.run_batch([(name, slots)], now, due_wall)
        if held:
            raise held[0][1]
        return self.counts

    def run_batch(
        self, batch: list[tuple[str, list[list[str]]]], now: str | None, due_wall: float | None
    ) -> list[tuple[tuple[str, list[list[str]]], LeaseHeld]]:
        """Several accounts' slots, one account after the other, each under its lease; returns the accounts
        whose lease another live process holds (not run: the caller sends them again later).

        The leases are taken together (one transaction, in name order so two workers never wait on each
        other in a cycle), the look for cut-off runs is one transaction, and the releases and the notice to
        the coordinator are one more: a message of N accounts costs three commits, not 3 N. One heartbeat
        thread renews every lease of the message during a long run."""
        self.counts = {}
        virtual = now is not None
        accts = {name: self.account(name, virtual) for name, _ in batch}
        store = next(iter(accts.values())).wiring.store  # one store for all: real or simulated
        for acct in accts.values():
            if now is not None:
                acct.wiring.clock = VirtualClock(datetime.fromisoformat(now))
        held: list[tuple[tuple[str, list[list[str]]], LeaseHeld]] = []
        leases: dict[str, AccountLease] = {}
        try:
            with store.hold():  # one connection (one check-out) for the leases and the look for cut-off runs
                with store.begin():
                    for name, slots in sorted(batch):
                        lease = AccountLease(store, name, heartbeat=False)
                        holder = lease.try_acquire()
                        if holder is None:
                            leases[name] = lease
                        else:
                            held.append(((name, slots), LeaseHeld(name, holder)))
                with store.begin():
                    for name in leases:
                        w = accts[name].wiring
                        reap_stuck_runs(store, name, w.clock.now(), w.settings, everything=True)
        except BaseException:
            self._release(store, list(leases.values()), virtual, notify=[])
            raise
        beat = _Heartbeat(list(leases.values()))
        try:
            for name, slots in batch:
                if name in leases:
                    self._run_account(name, accts[name], leases[name], slots, due_wall)
        finally:
            beat.stop()
            self._release(store, list(leases.values()), virtual, notify=list(leases))
        return held

    def _run_account(
        self, name: str, acct: _Account, lease: AccountLease, slots: list[list[str]], due_wall: float | None
    ) -> None:
        w, counts = acct.wiring, self.counts
        order = list(JOBS)
        runs = []
        for job, scheduled_for in sorted(slots, key=lambda s: order.index(s[0]) if s[0] in JOBS else 99):
            if job not in JOBS:
                log.error("worker.unknown_job", account=name, job=job)
                continue
            runs.append((job, datetime.fromisoformat(scheduled_for)))
        try:
            for i, (job, slot) in enumerate(runs):
                self._note_delay(slot, due_wall)
                # a succeeded run's outcome is written with the next run's claim, as the scheduler does
                # (one commit less a run); the last one's by the flush below
                wake = partial(self._wake, name, job, w.clock.now())
                outcome = acct.runner.run(job, slot, then=wake, fold=i + 1 < len(runs))
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
                lease.maybe_renew()
        finally:
            acct.runner.flush()

    def _release(self, store: SqlStore, leases: list[AccountLease], virtual: bool, notify: list[str]) -> None:
        """Release the leases in one transaction, with the notice of a simulation's finished accounts (the
        coordinator waits for it rather than polling the ledger)."""
        with store.hold(), store.begin() as conn:
            for lease in leases:
                lease.release()
            if virtual and notify and store.dialect == "postgresql":
                for payload in _payloads(notify):
                    conn.execute(_NOTIFY, {"channel": TICK_CHANNEL, "account": payload})

    def _wake(self, account: str, job: str, now: datetime, conn: Connection, outcome: RunOutcome) -> None:
        """A job that asked to run again sooner than its interval (a spent rate window) gets its wish."""
        wake_at = outcome.result.wake_at if outcome.result is not None else None
        if wake_at is not None and wake_at > now:
            conn.execute(_WAKE, {"a": account, "j": job, "wake_at": wake_at})

    def note_message(self, t0: float) -> None:
        """For the benchmark: the wall time of one message, start and end (the share of time a worker is busy)."""
        if self.stats_path is None:
            return
        with open(self.stats_path + ".messages", "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {t0:.6f} {time.time():.6f}\n")

    def _note_delay(self, slot: datetime, due_wall: float | None) -> None:
        """For the benchmark: wall seconds from the moment the slot was due to the start of its run."""
        if self.stats_path is None:
            return
        due = due_wall if due_wall is not None else slot.timestamp()
        with open(self.stats_path, "a", encoding="utf-8") as fh:
            fh.write(f"{time.time() - due:.6f}\n")


def _async_commit(dbapi_connection: Any, _record: Any) -> None:
    """`synchronous_commit = off` for a simulated account's connections: a commit returns before its WAL
    record is flushed to disk (5 to 9 ms a commit on this machine's shared disk, most of a run's cost).

    Nothing of a simulation is lost to a worker's kill -9: a commit is visible to every other session the
    moment it returns, flushed or not. Only a crash of the PostgreSQL server or the machine can lose the
    last commits (at most about 0.6 s of them), and then it loses a consistent tail of the WAL: the
    simulated platform lives in the same database, so its posts are lost together with our record of
    them, never one without the other. It is the durability of the single-process default (SQLite in WAL
    mode, `synchronous=NORMAL`). A real account's store keeps `synchronous_commit` on: the write-ahead
    attempt before a call to X must survive any crash, or a post could be sent twice.
    """
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute("SET synchronous_commit = off")
    finally:
        dbapi_connection.autocommit = autocommit


def _payloads(names: list[str], limit: int = 7000) -> list[str]:
    """Account names joined by commas (not in a name), in payloads under PostgreSQL's 8000 bytes a notice."""
    out: list[str] = []
    for name in names:
        if out and len(out[-1]) + 1 + len(name) <= limit:
            out[-1] += "," + name
        else:
            out.append(name)
    return out


class _Heartbeat:
    """One thread that renews every lease of a message each third of their TTL, during a long run (between
    runs `maybe_renew` does it)."""

    def __init__(self, leases: list[AccountLease]) -> None:
        self._leases, self._stop = leases, threading.Event()
        self._thread: threading.Thread | None = None
        if leases:
            self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        every = min(lease.ttl for lease in self._leases).total_seconds() / 3
        while not self._stop.wait(every):
            for lease in self._leases:
                if lease.lost:
                    continue
                try:
                    lease.renew()
                except LeaseLost:
                    log.error("lease.lost", account=lease.account)
                except Exception as exc:  # noqa: BLE001 - a busy database: the next beat tries again
                    log.warning("lease.renew_failed", account=lease.account, error=f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


_CONTEXT: WorkerContext | None = None


def init_worker(settings: Settings, stats_path: str | None = None, max_accounts: int | None = None) -> WorkerContext:
    global _CONTEXT
    _CONTEXT = WorkerContext(settings, open_store(settings), stats_path)
    if max_accounts is not None:
        _CONTEXT.max_accounts = max_accounts
    return _CONTEXT


def _context() -> WorkerContext:
    global _CONTEXT
    if _CONTEXT is None:  # a worker started by `celery -A growthloop.distributed.celery_app worker`
        from growthloop.config import load_settings

        _CONTEXT = WorkerContext(
            load_settings(None), open_store(load_settings(None)), os.environ.get("GROWTHLOOP_WORKER_STATS")
        )
    return _CONTEXT


def _run_slots(
    self: Any, account: str, slots: list[list[str]], now: str | None = None, due_wall: float | None = None
) -> dict[str, int]:
    """Run `slots` ([job, scheduled_for ISO]) of `account`; `now` is a simulation's virtual time (None: real)."""
    context = _context()
    t0 = time.time()
    try:
        return context.run(account, slots, now, due_wall)
    except LeaseHeld as exc:
        log.info("worker.account_busy", account=account, holder=exc.holder.describe())
        # soon at first (another worker finishes the account's message), then backing off to 30 s (a
        # `growthloop run` holds the account: two ways of running it at once, which the worker outlasts)
        countdown = min(LEASE_RETRY_MAX_S, LEASE_RETRY_S * 2 ** min(int(self.request.retries or 0), 10))
        raise self.retry(countdown=countdown, max_retries=None) from None
    finally:
        context.note_message(t0)


def _run_batch(
    self: Any, batch: list[list[Any]], now: str | None = None, due_wall: float | None = None
) -> dict[str, int]:
    """Run several accounts' slots ([[account, [[job, scheduled_for ISO], …]], …]), one account after the
    other: a simulation's tick sends its accounts in a few messages rather than one each (each message costs
    a delivery, an acknowledgement and the leases' commits). The accounts whose lease another live process
    holds come back later in a message of their own, as `run_slots` does."""
    context = _context()
    t0 = time.time()
    try:
        held = context.run_batch([(str(a), list(slots)) for a, slots in batch], now, due_wall)
        if held:
            for (account, _), exc in held:
                log.info("worker.account_busy", account=account, holder=exc.holder.describe())
            countdown = min(LEASE_RETRY_MAX_S, LEASE_RETRY_S * 2 ** min(int(self.request.retries or 0), 10))
            again = [[account, slots] for (account, slots), _ in held]
            raise self.retry(args=(again, now, due_wall), countdown=countdown, max_retries=None)
        return context.counts
    finally:
        context.note_message(t0)


# Celery's decorator is untyped: the tasks are the typed functions above, registered by name.
run_slots: Any = app.task(bind=True, name="growthloop.run_slots", max_retries=None, acks_late=True)(_run_slots)
run_batch: Any = app.task(bind=True, name="growthloop.run_batch", max_retries=None, acks_late=True)(_run_batch)


def utc_iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()
