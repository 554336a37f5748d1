"""One process per account: whoever runs an account's jobs holds its lease (`run`, `simulate`, `jobs run`,
and later the workers), so no two processes post, reconcile or reap for the same account at once.

The lease is one row per account in `account_leases`. It is taken with an insert that does nothing on
a conflict, or, when the row's holder is gone, with an update conditional on the token that was read:
both are atomic on SQLite (the first write takes the database's write lock) and on PostgreSQL (the
update waits for the row lock and then re-checks the token). A holder is gone when its lease expired
(it stopped renewing), or, on this host, when its pid is no longer a live process: a `kill -9` never
blocks the account, and a restart takes over at once.

Lease times are wall time, not a job's clock: they describe real processes, even under a simulation's
virtual clock. The clock is still injected, so tests step it.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

import structlog
from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from growthloop.adapters.clocks import RealClock
from growthloop.adapters.store.prepared import Prepared
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import account_leases
from growthloop.errors import GrowthloopError, UsageError
from growthloop.ports import Clock, Store

log = structlog.get_logger("growthloop.jobs")

TTL = timedelta(seconds=60)  # a holder that has not renewed for this long is gone, wherever it runs
POLL = timedelta(seconds=0.5)  # how often a waiting process looks again
MAX_WAIT = 86400.0  # the longest --wait, in seconds

# The leases this process holds: (database URL, account) -> token. The post stage checks its claims against it.
_HELD: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Holder:
    token: str
    host: str
    pid: int
    since: datetime
    expires_at: datetime

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, since {self.since:%Y-%m-%d %H:%M:%S} UTC"


class LeaseHeld(UsageError):
    """Another live process runs the account (exit 2, one line naming it)."""

    def __init__(self, account: str, holder: Holder, waited: float = 0) -> None:
        self.account, self.holder = account, holder
        what = f"still held after waiting {waited:g} s" if waited else "held by another process"
        hint = "stop that process, or wait longer with --wait SECONDS" if waited else "stop it, or pass --wait SECONDS"
        super().__init__(f"account {account!r} is {what} ({holder.describe()}); {hint}")


class LeaseLost(GrowthloopError):
    """This process's lease was taken over (it stopped renewing for longer than the TTL): it must stop."""

    def __init__(self, account: str) -> None:
        super().__init__(f"the lease of account {account!r} was taken over by another process; this one stops")


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running process on this host (a zombie, killed but not yet waited for, is not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def holder_alive(holder: Holder, now: datetime) -> bool:
    if holder.expires_at <= now:
        return False
    return pid_alive(holder.pid) if holder.host == this_host() else True


def read_holder(conn: Connection, account: str) -> Holder | None:
    row = conn.execute(select(account_leases).where(account_leases.c.account == account)).first()
    return None if row is None else Holder(row.token, row.host, row.pid, row.acquired_at, row.expires_at)


def live_token(conn: Connection, account: str, clock: Clock | None = None) -> str | None:
    """The token of the account's live holder, if it has one: its attempts in flight are its own."""
    holder = read_holder(conn, account)
    return holder.token if holder is not None and holder_alive(holder, (clock or RealClock()).now()) else None


def held_token(store: Store, account: str) -> str | None:
    """The token of the lease this process holds on the account, if any."""
    return _HELD.get((store.url, account))


_TOKEN = Prepared(select(account_leases.c.token).where(account_leases.c.account == bindparam("account")))


def verify_held(conn: Connection, store: Store, account: str) -> str | None:
    """Inside a transaction that writes for the account: refuse if this process's lease was taken over.

    Returns this process's token (None when it holds no lease: a test driving a stage directly)."""
    token = held_token(store, account)
    if token is None:
        return None
    current = _TOKEN.run(conn, {"account": account}).scalar()
    if current != token:
        raise LeaseLost(account)
    return token


class AccountLease:
    """acquire / renew / release, and a context manager that holds the lease with a heartbeat thread."""

    def __init__(
        self,
        store: SqlStore,
        account: str,
        clock: Clock | None = None,
        ttl: timedelta = TTL,
        wait: float = 0,
        on_wait: Callable[[Holder, float], None] | None = None,
        heartbeat: bool = True,
    ) -> None:
        self.store, self.account, self.ttl, self.wait, self.on_wait = store, account, ttl, wait, on_wait
        self.clock: Clock = clock or RealClock()
        self.token = uuid.uuid4().hex
        self.host, self.pid = this_host(), os.getpid()
        self.lost = False
        self._renewed_at: datetime | None = None
        self._heartbeat = heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the lease itself ----------------------------------------------------------------------------
    def try_acquire(self) -> Holder | None:
        """Take the lease if it is free or its holder is gone; else return the live holder."""
        while True:
            now = self.clock.now()
            with self.store.begin() as conn:
                took, holder = self._attempt(conn, now)
            if took:
                self._renewed_at, self.lost = now, False
                _HELD[(self.store.url, self.account)] = self.token
                return None
            if holder is not None:
                return holder
            # The row vanished between our insert and our read (its holder released it): again.

    def _attempt(self, conn: Connection, now: datetime) -> tuple[bool, Holder | None]:
        values = dict(
            token=self.token, host=self.host, pid=self.pid, acquired_at=now, renewed_at=now, expires_at=now + self.ttl
        )
        insert = pg_insert if self.store.dialect == "postgresql" else sqlite_insert
        stmt = insert(account_leases).values(account=self.account, **values).on_conflict_do_nothing()
        if conn.execute(stmt).rowcount == 1:
            return True, None
        holder = read_holder(conn, self.account)
        if holder is None or holder.token == self.token:
            return holder is not None, None
        if holder_alive(holder, now):
            return False, holder
        taken = conn.execute(
            update(account_leases)
            .where(account_leases.c.account == self.account, account_leases.c.token == holder.token)
            .values(**values)
        ).rowcount
        if taken != 1:  # another process took it over first (PostgreSQL re-checked the token after the lock)
            return False, read_holder(conn, self.account) or holder
        log.warning("lease.taken_over", account=self.account, previous=holder.describe())
        return True, None

    def acquire(self) -> AccountLease:
        """Take the lease, waiting up to `self.wait` seconds for a live holder to finish; else LeaseHeld."""
        holder = self.try_acquire()
        if holder is not None and self.wait > 0:
            if self.on_wait is not None:
                self.on_wait(holder, self.wait)
            deadline = self.clock.now() + timedelta(seconds=self.wait)
            while holder is not None and self.clock.now() < deadline:
                self.clock.sleep_until(min(deadline, self.clock.now() + POLL))
                holder = self.try_acquire()
        if holder is not None:
            raise LeaseHeld(self.account, holder, self.wait)
        if self._heartbeat:
            self._start_heartbeat()
        return self

    def renew(self) -> None:
        """Push the expiry on; LeaseLost if another process took the lease over meanwhile."""
        now = self.clock.now()
        with self.store.begin() as conn:
            renewed = conn.execute(
                update(account_leases)
                .where(account_leases.c.account == self.account, account_leases.c.token == self.token)
                .values(renewed_at=now, expires_at=now + self.ttl)
            ).rowcount
        if renewed != 1:
            self.lost = True
            _HELD.pop((self.store.url, self.account), None)
            raise LeaseLost(self.account)
        self._renewed_at = now

    def maybe_renew(self) -> None:
        """Between job runs: renew when a third of the TTL has passed; LeaseLost once the lease is gone."""
        if self.lost:
            raise LeaseLost(self.account)
        if self._renewed_at is None or self.clock.now() - self._renewed_at >= self.ttl / 3:
            self.renew()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if _HELD.get((self.store.url, self.account)) == self.token:
            del _HELD[(self.store.url, self.account)]
        with self.store.begin() as conn:
            conn.execute(
                delete(account_leases).where(
                    account_leases.c.account == self.account, account_leases.c.token == self.token
                )
            )

    # -- the heartbeat: renews during a long job, when nothing runs between jobs ----------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.account}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait((self.ttl / 3).total_seconds()):
            try:
                self.renew()
            except LeaseLost:
                log.error("lease.lost", account=self.account)
                return
            except Exception as exc:  # noqa: BLE001 - a busy database: the next beat tries again
                log.warning("lease.renew_failed", account=self.account, error=f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> AccountLease:
        return self.acquire()

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.release()
