"""The dispatcher publishes each due slot once (a failed publish leaves it due), and a worker's task runs an
account's slots under its lease: never beside another holder, taking over a run a dead worker cut off,
and making a slot that already ran a no-op. In-process, on SQLite and PostgreSQL, without a broker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import account_leases, job_runs, job_schedule
from growthloop.config import Settings
from growthloop.distributed.coordinator import account_names, prepare
from growthloop.distributed.dispatch import batches, dispatch_due, next_slot, sync_schedule
from growthloop.distributed.tasks import WorkerContext
from growthloop.jobs.lease import AccountLease, LeaseHeld
from growthloop.jobs.registry import JOBS
from growthloop.simulation import plan_simulation

from ..conftest import START


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, list[list[str]], str | None]] = []
        self.fail = fail

    def __call__(self, account: str, slots: list[list[str]], now: str | None, due_wall: float) -> None:
        if self.fail:
            raise ConnectionRefusedError(111, "Connection refused")
        self.sent.append((account, slots, now))


def _accounts(store: SqlStore, settings: Settings, n: int = 2, days: float = 1) -> list[Any]:
    plan = plan_simulation(None, 5, days, START)
    return prepare(store, settings, plan, account_names("acc", n))


def test_each_due_slot_is_published_once(store: SqlStore, settings: Settings) -> None:
    accounts = _accounts(store, settings)
    rec = Recorder()
    first = dispatch_due(store, START, rec, [a.name for a in accounts], virtual=True)
    assert first.count() == 2 * len(JOBS)  # every job is due at the start
    assert sorted(a for a, _, _ in rec.sent) == ["acc001", "acc002"]  # one message per account
    assert [j for j, _ in rec.sent[0][1]] == list(JOBS)  # in registry order
    again = dispatch_due(store, START, rec, [a.name for a in accounts], virtual=True)
    assert again.count() == 0 and len(rec.sent) == 2
    with store.connect() as conn:
        dues = conn.execute(select(job_schedule.c.job, job_schedule.c.next_due, job_schedule.c.interval_s)).all()
    assert all(d.next_due == START + timedelta(seconds=d.interval_s) for d in dues)


def test_a_failed_publish_leaves_the_slots_due(store: SqlStore, settings: Settings) -> None:
    accounts = _accounts(store, settings, 1)
    with pytest.raises(ConnectionRefusedError):
        dispatch_due(store, START, Recorder(fail=True), [accounts[0].name], virtual=True)
    rec = Recorder()
    assert dispatch_due(store, START, rec, [accounts[0].name], virtual=True).count() == len(JOBS)


def test_a_paused_job_passes_its_slot_without_a_message(store: SqlStore, settings: Settings) -> None:
    accounts = _accounts(store, settings, 1)
    with store.begin() as conn:
        conn.execute(update(job_schedule).where(job_schedule.c.job == "post").values(paused_at=START, paused_by="t"))
    rec = Recorder()
    out = dispatch_due(store, START, rec, [accounts[0].name], virtual=True)
    assert out.paused == 1 and "post" not in [j for j, _ in rec.sent[0][1]]


def test_missed_slots_are_skipped_not_replayed() -> None:
    assert next_slot(START, 900, START + timedelta(minutes=50)) == START + timedelta(minutes=60)
    assert next_slot(START, 900, START) == START + timedelta(minutes=15)


def test_a_task_never_runs_beside_another_holder_of_the_account(store: SqlStore, settings: Settings) -> None:
    accounts = _accounts(store, settings, 1)
    ctx = WorkerContext(settings, store)
    with AccountLease(store, accounts[0].name, heartbeat=False):  # another live process runs the account
        with pytest.raises(LeaseHeld):
            ctx.run(accounts[0].name, [["plan", START.isoformat()]], START.isoformat(), None)
    with store.connect() as conn:
        assert conn.execute(select(job_runs)).first() is None  # nothing ran


def test_a_redelivered_slot_is_a_no_op_or_a_resumption(store: SqlStore, settings: Settings) -> None:
    accounts = _accounts(store, settings, 1)
    name = accounts[0].name
    sync_schedule(store, accounts[0].settings, START)
    ctx = WorkerContext(settings, store)
    slots = [[job, START.isoformat()] for job in JOBS]
    assert ctx.run(name, slots, START.isoformat(), None) == {"succeeded": len(JOBS)}
    assert ctx.run(name, slots, START.isoformat(), None) == {"skipped": len(JOBS)}  # delivered twice: no-op
    # A worker died in the middle of a run: the row stays 'running' under no live lease.
    later = START + timedelta(minutes=15)
    with store.begin() as conn:
        conn.execute(
            job_runs.insert().values(account=name, job="post", scheduled_for=later, started_at=later, status="running")
        )
    assert ctx.run(name, [["post", later.isoformat()]], later.isoformat(), None) == {"succeeded": 1}
    with store.connect() as conn:
        row = conn.execute(select(job_runs).where(job_runs.c.job == "post", job_runs.c.scheduled_for == later)).one()
    assert row.status == "succeeded" and row.attempt == 2


def test_a_ticks_accounts_go_in_a_few_messages_that_shrink_towards_the_end() -> None:
    sizes = [len(b) for b in batches(list(range(200)))]
    assert sum(sizes) == 200 and max(sizes) == 20 and sizes[-1] == 1 and len(sizes) < 40
    assert sizes == sorted(sizes, reverse=True)
    assert [x for b in batches(list(range(37))) for x in b] == list(range(37))  # each once, in order
    assert batches([]) == [] and batches(["a"]) == [["a"]]


def test_a_batched_dispatch_publishes_each_slot_once(store: SqlStore, settings: Settings) -> None:
    accounts = _accounts(store, settings, 3)
    sent: list[list[tuple[str, list[list[str]]]]] = []
    out = dispatch_due(
        store, START, Recorder(fail=True), [a.name for a in accounts], True, lambda b, _now, _due: sent.append(b)
    )
    assert out.count() == 3 * len(JOBS)
    assert sorted(a for batch in sent for a, _ in batch) == ["acc001", "acc002", "acc003"]
    assert all([j for j, _ in slots] == list(JOBS) for batch in sent for _, slots in batch)


def test_a_batch_runs_its_free_accounts_and_hands_back_the_held_one(store: SqlStore, settings: Settings) -> None:
    accounts = _accounts(store, settings, 3)
    names = [a.name for a in accounts]
    ctx = WorkerContext(settings, store)
    batch = [(n, [["plan", START.isoformat()], ["post", START.isoformat()]]) for n in names]
    with AccountLease(store, names[1], heartbeat=False):  # another live process runs the second account
        held = ctx.run_batch(batch, START.isoformat(), None)
    assert [(account, slots) for (account, slots), _ in held] == [batch[1]]
    assert isinstance(held[0][1], LeaseHeld)
    with store.connect() as conn:
        ran = conn.execute(select(job_runs.c.account, job_runs.c.status)).all()
        leases = conn.execute(select(account_leases)).all()
    assert sorted(ran) == sorted([(n, "succeeded") for n in (names[0], names[2]) for _ in range(2)])
    assert leases == []  # every lease of the message released (the other holder's too, by its block)
    assert ctx.run_batch(batch, START.isoformat(), None) == []  # again: the two no-ops, the third runs
    assert ctx.counts == {"skipped": 4, "succeeded": 2}


def test_a_worker_keeps_the_wirings_of_its_latest_accounts_only(store: SqlStore, settings: Settings) -> None:
    accounts = _accounts(store, settings, 3)
    ctx = WorkerContext(settings, store, max_accounts=2)
    for a in accounts:
        ctx.run(a.name, [["plan", START.isoformat()]], START.isoformat(), None)
    assert [name for name, _ in ctx.accounts] == ["acc002", "acc003"]  # acc001 dropped first
    later = (START + timedelta(hours=1)).isoformat()
    assert ctx.run("acc001", [["plan", later]], later, None) == {"succeeded": 1}  # built again
    assert [name for name, _ in ctx.accounts] == ["acc003", "acc001"]


def test_a_wake_asked_before_the_dispatcher_commits_is_kept(store: SqlStore, settings: Settings) -> None:
    """The first messages of a tick can run before the dispatch that published them commits the slot's move
    past now. A wake asked then (the post stage's spent rate window, a second later) must survive that commit:
    it waits for it and takes the earlier time, rather than reading the old row and matching nothing."""
    import threading

    from growthloop.domain import JobResult
    from growthloop.jobs.runner import RunOutcome

    account = _accounts(store, settings, 1)[0].name
    context = WorkerContext(settings, store)
    wake_at = START + timedelta(seconds=1)
    outcome = RunOutcome("post", START, "succeeded", JobResult(1, 0, idle_reason="rate limit", wake_at=wake_at))
    worker: list[threading.Thread] = []

    def wake() -> None:
        with store.begin() as conn:
            context._wake(account, "post", START, conn, outcome)

    def publish(name: str, slots: list[list[str]], now: str | None, due_wall: float) -> None:
        # a worker that got the message at once: it runs while the dispatch's transaction is still open
        worker.append(threading.Thread(target=wake))
        worker[0].start()
        worker[0].join(timeout=0.5)  # on PostgreSQL it waits for the dispatcher's commit; SQLite's lock likewise

    dispatch_due(store, START, publish, [account], virtual=True)
    worker[0].join(timeout=30)
    assert not worker[0].is_alive()
    with store.connect() as conn:
        due = conn.execute(
            select(job_schedule.c.next_due).where(job_schedule.c.account == account, job_schedule.c.job == "post")
        ).scalar_one()
    assert due == wake_at, f"the wake was lost: post next due {due}, asked {wake_at}"


def test_a_wake_never_puts_a_job_later_and_no_wake_leaves_it(store: SqlStore, settings: Settings) -> None:
    """The other members of the class: a wake later than the job's next due time leaves it (the interval comes
    first), one earlier takes its place, and a run that asked none changes nothing."""
    from growthloop.domain import JobResult
    from growthloop.jobs.runner import RunOutcome

    account = _accounts(store, settings, 1)[0].name
    context = WorkerContext(settings, store)
    dispatch_due(store, START, Recorder(), [account], virtual=True)  # post next due: START + its interval

    def post_due() -> Any:
        with store.connect() as conn:
            return conn.execute(
                select(job_schedule.c.next_due).where(job_schedule.c.account == account, job_schedule.c.job == "post")
            ).scalar_one()

    def wake(at: Any) -> None:
        outcome = RunOutcome("post", START, "succeeded", JobResult(1, 0, idle_reason="rate limit", wake_at=at))
        with store.begin() as conn:
            context._wake(account, "post", START, conn, outcome)

    interval_due = post_due()
    assert interval_due > START
    wake(interval_due + timedelta(minutes=5))
    assert post_due() == interval_due
    wake(None)
    assert post_due() == interval_due
    wake(START + timedelta(seconds=30))
    assert post_due() == START + timedelta(seconds=30)
