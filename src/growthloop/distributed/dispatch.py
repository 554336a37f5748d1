"""`growthloop dispatch`: every due (account, job, scheduled_for) of `job_schedule` is published once.

One transaction reads the due rows (locked, skipping rows another dispatcher holds, on PostgreSQL), moves
each job's next due time forward by whole intervals past now (missed slots are skipped, not replayed, as
the single-process scheduler does), publishes one message per account with its due slots, and commits.
A publish that fails (the broker is away) rolls the schedule back, so the slots are published at the next
attempt; a dispatcher that dies after publishing and before committing publishes them again, and the
ledger's unique key makes the second run a no-op. A paused job's slots pass without a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, select, update

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts as accounts_table
from growthloop.adapters.store.tables import job_schedule
from growthloop.config import Settings
from growthloop.jobs.registry import JOBS

log = structlog.get_logger("growthloop.distributed")
TICK_CHANNEL = "growthloop_tick"  # PostgreSQL NOTIFY: a worker finished a simulated account's message
ENGINE_KEY = "engine"  # app_state: "workers" once an account's jobs were dispatched to workers (doctor's cue)

_ADVANCE = (
    update(job_schedule)
    .where(job_schedule.c.account == bindparam("a"), job_schedule.c.job == bindparam("j"))
    .values(next_due=bindparam("next_due"))
)

Publish = Callable[[str, list[list[str]], str | None, float], None]
# several accounts' slots in one message: [(account, [[job, scheduled_for ISO], …]), …], now, due_wall
PublishBatch = Callable[[list[tuple[str, list[list[str]]]], str | None, float], None]
BATCH_MAX = 20  # accounts in one message, at most
BATCH_SHARE = 8  # each message takes at most this share (1/8) of the accounts still to send in a tick


@dataclass
class Dispatched:
    """What one dispatch published: account -> its slots [(job, scheduled_for)], and the paused slots passed."""

    slots: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)
    paused: int = 0

    def keys(self) -> list[tuple[str, str, datetime]]:
        return [(a, job, sf) for a, slots in self.slots.items() for job, sf in slots]

    def count(self) -> int:
        return sum(len(s) for s in self.slots.values())


def next_slot(next_due: datetime, interval_s: int, now: datetime) -> datetime:
    interval = timedelta(seconds=interval_s)
    return next_due + ((now - next_due) // interval + 1) * interval


def sync_schedule(store: SqlStore, settings: Settings, start: datetime) -> None:
    """Make the account's schedule rows match its settings (as `Scheduler.sync_schedule`): add the missing
    jobs due at `start`, update intervals, timeouts and switches, never a person's pause."""
    js = job_schedule
    with store.begin() as conn:
        have = set(conn.execute(select(js.c.job).where(js.c.account == settings.account)).scalars())
        for name in JOBS:
            cfg = settings.jobs[name]
            values = {"interval_s": cfg.interval, "timeout_s": cfg.timeout, "enabled": cfg.enabled}
            if name in have:
                conn.execute(update(js).where(js.c.account == settings.account, js.c.job == name).values(**values))
            else:
                conn.execute(js.insert().values(account=settings.account, job=name, next_due=start, **values))


def publisher(virtual: bool) -> Publish:
    """Publish through the Celery app (its broker and queue as configured)."""
    from growthloop.distributed.tasks import run_slots

    def publish(account: str, slots: list[list[str]], now: str | None, due_wall: float) -> None:
        run_slots.apply_async(
            args=(account, slots, now if virtual else None, due_wall),
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
        )

    return publish


def batch_publisher() -> PublishBatch:
    """Publish several simulated accounts' slots in one message (`run_batch`), on the virtual clock."""
    from growthloop.distributed.tasks import run_batch

    def publish(batch: list[tuple[str, list[list[str]]]], now: str | None, due_wall: float) -> None:
        run_batch.apply_async(
            args=([[a, slots] for a, slots in batch], now, due_wall),
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
        )

    return publish


def batches(items: list[Any], share: int = BATCH_SHARE, most: int = BATCH_MAX) -> list[list[Any]]:
    """`items` cut into messages that shrink towards the end (each takes at most 1/`share` of what is left,
    and `most`): the workers share the big ones, and the last ones, which end the tick, are short."""
    out, i = [], 0
    while i < len(items):
        size = max(1, min(most, -(-(len(items) - i) // share)))
        out.append(items[i : i + size])
        i += size
    return out


def dispatch_due(
    store: SqlStore,
    now: datetime,
    publish: Publish,
    accounts: Sequence[str] | None = None,
    virtual: bool = False,
    publish_batch: PublishBatch | None = None,
) -> Dispatched:
    """Publish every slot due at `now` (of `accounts`, or of every account), each once; see the module.

    With `publish_batch` (a simulation), several accounts go in one message (`batches`)."""
    js = job_schedule
    out = Dispatched()
    due_wall = time.time()
    paused_account = (
        select(accounts_table.c.paused_at)
        .where(accounts_table.c.name == js.c.account)
        .scalar_subquery()
        .label("account_paused_at")
    )
    query = select(js.c.account, js.c.job, js.c.interval_s, js.c.next_due, js.c.paused_at, paused_account).where(
        js.c.enabled.is_(True), js.c.next_due <= now
    )
    if accounts is not None:
        query = query.where(js.c.account.in_(list(accounts)))
    if store.dialect == "postgresql":
        query = query.with_for_update(of=js, skip_locked=True)
    with store.begin() as conn:
        rows = conn.execute(query.order_by(js.c.account)).all()
        if not rows:
            return out
        moves: list[dict[str, Any]] = []
        for r in rows:
            if r.job not in JOBS:
                continue
            moves.append({"a": r.account, "j": r.job, "next_due": next_slot(r.next_due, r.interval_s, now)})
            if r.paused_at is not None or r.account_paused_at is not None:
                out.paused += 1
                continue
            out.slots.setdefault(r.account, []).append((r.job, r.next_due))
        if moves:
            conn.execute(_ADVANCE, moves)
        _mark_engine(store, conn, out.slots)
        order = list(JOBS)
        messages: list[tuple[str, list[list[str]]]] = []
        for account, slots in out.slots.items():
            slots.sort(key=lambda s: order.index(s[0]))
            messages.append((account, [[job, sf.isoformat()] for job, sf in slots]))
        if publish_batch is not None:
            for batch in batches(messages):
                publish_batch(batch, now.isoformat(), due_wall)
        else:
            for account, message in messages:
                publish(account, message, now.isoformat(), due_wall)
    return out


_MARKED: set[tuple[str, str]] = set()


def _mark_engine(store: SqlStore, conn: Connection, slots: dict[str, Any]) -> None:
    for account in slots:
        if (store.url, account) not in _MARKED:
            store.set_state(conn, account, ENGINE_KEY, "workers")
            _MARKED.add((store.url, account))


def next_due(store: SqlStore, accounts: Sequence[str] | None = None) -> datetime | None:
    """The earliest due time of an enabled job (of `accounts`, or of every account)."""
    from sqlalchemy import func

    js = job_schedule
    query = select(func.min(js.c.next_due)).where(js.c.enabled.is_(True))
    if accounts is not None:
        query = query.where(js.c.account.in_(list(accounts)))
    with store.connect() as conn:
        result: datetime | None = conn.execute(query).scalar()
    return result
