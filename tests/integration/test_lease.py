"""One process per account: the lease (acquire, refuse naming the holder, expiry, renew, release, wait), on
SQLite and PostgreSQL; reconciliation leaves a live holder's post in flight alone; the rolling-hour
window and the claim are one transaction, so concurrent claimers never fit two posts into one slot."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select, update

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import account_leases, content_metadata, post_attempts
from growthloop.domain import POSTING, QUEUED
from growthloop.jobs import lease as lease_module
from growthloop.jobs.lease import TTL, AccountLease, Holder, LeaseHeld, LeaseLost, this_host
from growthloop.jobs.runner import JobTimeout
from growthloop.loop.post import RateWindow, _claim_next, publish_due, reconcile_unknown
from growthloop.report import max_in_rolling_hour
from tests.conftest import START, Loop

ACCOUNT = "default"


@pytest.fixture(autouse=True)
def _forget_held() -> Iterator[None]:
    yield
    lease_module._HELD.clear()


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of another process that is alive for the whole test."""
    proc = subprocess.Popen(["sleep", "120"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has ended (and was waited for)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _lease(store: SqlStore, clock: VirtualClock, pid: int | None = None, host: str | None = None) -> AccountLease:
    lease = AccountLease(store, ACCOUNT, clock=clock, heartbeat=False)
    lease.pid = pid if pid is not None else lease.pid
    lease.host = host if host is not None else lease.host
    return lease


def _all_at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Each call in its own thread, released together; what each returned or raised, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - a call that fails (locked, raced) is a finding
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _row(store: SqlStore) -> tuple[str, int, datetime] | None:
    with store.connect() as conn:
        row = conn.execute(select(account_leases)).first()
    return None if row is None else (row.token, row.pid, row.expires_at)


def test_a_second_process_is_refused_in_one_line_naming_the_holder(store: SqlStore, live_pid: int) -> None:
    clock = VirtualClock(START)
    holder = _lease(store, clock, pid=live_pid).acquire()
    clock.advance(5)
    with pytest.raises(LeaseHeld) as refused:
        _lease(store, clock).acquire()
    message = str(refused.value)
    assert "\n" not in message
    assert f"account 'default' is held by another process (host {this_host()}, pid {live_pid}, " in message
    assert "since 2026-03-02 00:00:00 UTC" in message and "--wait SECONDS" in message
    assert _row(store) == (holder.token, live_pid, START + TTL)  # the refusal wrote nothing


def test_a_dead_holder_on_this_host_is_taken_over_at_once(store: SqlStore, dead_pid: int) -> None:
    clock = VirtualClock(START)
    killed = _lease(store, clock, pid=dead_pid).acquire()
    clock.advance(1)  # long before the lease would expire
    mine = _lease(store, clock).acquire()
    assert _row(store) == (mine.token, mine.pid, START + timedelta(seconds=1) + TTL)
    with pytest.raises(LeaseLost):
        killed.renew()


def test_a_holder_elsewhere_that_stops_renewing_expires(store: SqlStore) -> None:
    clock = VirtualClock(START)
    _lease(store, clock, pid=1, host="another-host").acquire()
    clock.advance(TTL.total_seconds() - 1)
    with pytest.raises(LeaseHeld, match="host another-host, pid 1,"):
        _lease(store, clock).acquire()
    clock.advance(1)
    mine = _lease(store, clock).acquire()
    assert _row(store) == (mine.token, mine.pid, START + 2 * TTL)


def test_renewing_keeps_the_lease_and_release_frees_it(store: SqlStore) -> None:
    clock = VirtualClock(START)
    elsewhere = _lease(store, clock, pid=1, host="another-host").acquire()
    clock.advance(50)
    elsewhere.maybe_renew()  # a third of the TTL has passed: renewed
    clock.advance(50)  # past the first expiry, within the renewed one
    with pytest.raises(LeaseHeld):
        _lease(store, clock).acquire()
    elsewhere.release()
    assert _row(store) is None
    mine = _lease(store, clock).acquire()
    assert _row(store) is not None and _row(store)[0] == mine.token  # type: ignore[index]


def test_a_holder_whose_lease_was_taken_over_learns_it_when_it_renews(store: SqlStore) -> None:
    clock = VirtualClock(START)
    paused = _lease(store, clock, pid=1, host="another-host").acquire()
    clock.advance(TTL.total_seconds() + 1)
    _lease(store, clock).acquire()
    with pytest.raises(LeaseLost, match="taken over"):
        paused.maybe_renew()
    with pytest.raises(LeaseLost):
        paused.maybe_renew()  # and keeps knowing it


def test_wait_takes_the_lease_once_the_holder_is_gone(store: SqlStore) -> None:
    clock = VirtualClock(START)
    _lease(store, clock, pid=1, host="another-host").acquire()
    told: list[tuple[Holder, float]] = []
    waiter = _lease(store, clock)
    waiter.wait, waiter.on_wait = 120, lambda holder, seconds: told.append((holder, seconds))
    waiter.acquire()
    assert [(h.host, s) for h, s in told] == [("another-host", 120)]  # said once what it waits for
    assert clock.now() - START == TTL  # it took the lease when it expired, not at the end of the wait
    assert _row(store)[0] == waiter.token  # type: ignore[index]


def test_wait_is_bounded(store: SqlStore, live_pid: int) -> None:
    clock = VirtualClock(START)
    _lease(store, clock, pid=live_pid).acquire()
    waiter = _lease(store, clock)
    waiter.wait = 10
    with pytest.raises(LeaseHeld, match=r"still held after waiting 10 s \(host .*, pid \d+, since"):
        waiter.acquire()
    assert clock.now() - START == timedelta(seconds=10)


@pytest.mark.parametrize("rounds", [5])
def test_of_processes_starting_together_exactly_one_takes_the_lease(
    store: SqlStore, dead_pid: int, rounds: int
) -> None:
    """Eight contenders at once, on a free lease and on one whose holder died: one wins each time."""
    clock = VirtualClock(START)
    for n in range(rounds):
        if n % 2:
            _lease(store, clock, pid=dead_pid).acquire()  # a holder killed while holding it
        contenders = [_lease(store, clock, pid=dead_pid + 1 + i, host=f"host-{i}") for i in range(8)]
        results = _all_at_once([c.try_acquire for c in contenders])
        assert not [r for r in results if isinstance(r, Exception)], results
        won = [c for c, r in zip(contenders, results, strict=True) if r is None]
        assert len(won) == 1, f"round {n}: {len(won)} processes took the lease"
        assert _row(store)[0] == won[0].token  # type: ignore[index]
        won[0].release()


def test_reconciliation_leaves_a_live_holders_post_in_flight_alone(
    loop: Loop, dead_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post claimed under a live holder's lease may not have reached the platform yet: requeueing it
    would post it twice. Once its holder is gone, it is reconciled."""
    store, now = loop.store, loop.clock.now()
    loop.run("plan")
    holder = AccountLease(store, ACCOUNT, heartbeat=False).acquire()  # this process, alive
    claimed = _claim_next(store, loop.wiring.records, ACCOUNT, now, "post", 2)
    assert isinstance(claimed, tuple)
    decision_id = claimed[0].decision_id
    asked: list[str] = []
    find = loop.platform.find_published
    monkeypatch.setattr(loop.platform, "find_published", lambda req, at: asked.append(req.key) or find(req, at))

    assert reconcile_unknown(store, loop.wiring.records, loop.platform, ACCOUNT, now) == 0
    assert asked == [] and _status(store, decision_id) == (POSTING, "pending")

    # Its holder dies (the lease row now names a pid that has ended) and another process takes over.
    with store.begin() as conn:
        conn.execute(update(account_leases).values(pid=dead_pid))
    lease_module._HELD.clear()
    AccountLease(store, ACCOUNT, heartbeat=False).acquire()
    assert reconcile_unknown(store, loop.wiring.records, loop.platform, ACCOUNT, now) == 1
    assert asked == [decision_id] and _status(store, decision_id) == (QUEUED, "failed")
    assert holder.lost is False  # it never renewed: it would learn at its next renewal


class CutOff:
    """The simulator, but the job's timeout fires during the first publish (the alarm raises JobTimeout)."""

    def __init__(self, inner: object) -> None:
        self.inner, self.name, self.cut = inner, "sim", False

    def publish(self, request: object, now: datetime) -> object:
        if not self.cut:
            self.cut = True
            raise JobTimeout()
        return self.inner.publish(request, now)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_a_publish_cut_off_by_the_jobs_timeout_is_reconciled_under_the_same_lease(loop: Loop) -> None:
    """The process is done with an attempt its timeout cut off: its own live lease must not shield it."""
    store, w = loop.store, loop.wiring
    loop.run("plan")
    AccountLease(store, ACCOUNT, heartbeat=False).acquire()
    platform = CutOff(loop.platform)
    with pytest.raises(JobTimeout):
        publish_due(store, platform, w.generator, w.clock, ACCOUNT, w.settings, records=w.records)  # type: ignore[arg-type]
    assert _status(store, "default-0000001") == (POSTING, "unknown")
    loop.clock.advance(3600)
    publish_due(store, platform, w.generator, w.clock, ACCOUNT, w.settings, records=w.records)  # type: ignore[arg-type]
    with store.connect() as conn:
        outcomes = [r[0] for r in conn.execute(select(post_attempts.c.outcome).order_by(post_attempts.c.id))]
    assert outcomes == ["failed", "published"]  # reconciled (not found), then posted once
    assert _status(store, "default-0000001") == ("posted", "published")


def _status(store: SqlStore, decision_id: str) -> tuple[str, str]:
    with store.connect() as conn:
        status = conn.execute(
            select(content_metadata.c.status).where(content_metadata.c.decision_id == decision_id)
        ).scalar_one()
        outcome = conn.execute(
            select(post_attempts.c.outcome)
            .where(post_attempts.c.decision_id == decision_id)
            .order_by(post_attempts.c.id.desc())
        ).scalar()
    return status, outcome


def test_a_claim_under_a_lease_taken_over_is_refused(loop: Loop) -> None:
    store, now = loop.store, loop.clock.now()
    loop.run("plan")
    AccountLease(store, ACCOUNT, heartbeat=False).acquire()
    with store.begin() as conn:
        conn.execute(update(account_leases).values(token="f" * 32))  # another process took it over
    with pytest.raises(LeaseLost):
        _claim_next(store, loop.wiring.records, ACCOUNT, now, "post", 2)
    with store.connect() as conn:
        assert conn.execute(select(post_attempts)).first() is None


@pytest.mark.parametrize("rounds", [24])
def test_concurrent_claimers_never_exceed_the_rolling_hour(loop: Loop, rounds: int) -> None:
    """Six claimers at the same instant, every 7 minutes: the window check and the claim are one
    transaction, so each instant gets at most one attempt and no closed hour holds more than 2."""
    store = loop.store
    loop.run("plan")
    starts: list[datetime] = []
    for n in range(rounds):
        now = START + timedelta(minutes=7 * n)
        claims = _all_at_once([partial(_claim_next, store, loop.wiring.records, ACCOUNT, now, "post", 2)] * 6)
        made = [c for c in claims if isinstance(c, tuple)]
        assert len(made) <= 1, f"round {n}: {len(made)} attempts at one instant"
        assert all(isinstance(c, RateWindow) for c in claims if not isinstance(c, tuple)), claims
        starts += [now] * len(made)
        with store.begin() as conn:  # put it back in the queue: only the attempt matters here
            conn.execute(update(content_metadata).where(content_metadata.c.status == POSTING).values(status=QUEUED))
    assert max_in_rolling_hour(starts) <= 2
    assert len(starts) >= rounds * 7 // 30  # the limit was reached, not just never tried
