"""What the stages keep between runs (issue 10) answers as a fresh read of the database does, whatever changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select, update

from growthloop.adapters.metering.usage import Call, UsageBook
from growthloop.adapters.store.records import SqlRecords
from growthloop.adapters.store.records import plan as plan_records
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata as cm
from growthloop.adapters.store.tables import job_runs, job_schedule
from growthloop.bootstrap import ensure_account
from growthloop.config import Settings
from growthloop.domain import POSTED, QUEUED, SKIPPED, JobResult
from growthloop.jobs import registry
from growthloop.loop.gate import WordBits
from growthloop.spend.prices import price_table
from tests.conftest import START, Loop


def _same_recent(loop: Loop, kept: SqlRecords, n: int) -> list[tuple[str, str]]:
    """`kept`'s recent posts (n of them), the wiring's (the gate's 200) and a fresh read's agree."""
    with loop.store.connect() as conn:
        cached = [(r.topic, r.content) for r in kept.plan.latest(conn, "default", n)]
        wired = [(r.topic, r.content) for r in loop.wiring.records.plan.latest(conn, "default", 200)]
        fresh = [(r.topic, r.content) for r in SqlRecords(loop.store).plan.latest_fresh(conn, "default", n)]
        cold = [(r.topic, r.content) for r in SqlRecords(loop.store).plan.latest(conn, "default", n)]
        assert wired == [tuple(r) for r in SqlRecords(loop.store).plan.latest_fresh(conn, "default", 200)]
    assert cached == fresh == cold
    return cached


def _set_status(loop: Loop, row_id: int, status: str) -> None:
    with loop.store.begin() as conn:
        conn.execute(update(cm).where(cm.c.id == row_id).values(status=status))


def _ids(loop: Loop, *where: object) -> list[int]:
    with loop.store.connect() as conn:
        return list(conn.execute(select(cm.c.id).where(*where).order_by(cm.c.id)).scalars())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "margin", "history"),
    [
        (200, plan_records.MARGIN, "simulated"),  # every post kept
        (5, plan_records.MARGIN, "simulated"),  # the newest few, and a margin
        (5, 0, "simulated"),
        (5, 0, "simulated_pg"),
    ],
)
def test_the_kept_recent_posts_are_those_of_a_fresh_read(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, n: int, margin: int, history: str
) -> None:
    monkeypatch.setattr(plan_records, "MARGIN", margin)
    loop = request.getfixturevalue(history)(30)
    kept = SqlRecords(loop.store)  # asked for n only, between the loop's runs
    first = _same_recent(loop, kept, n)
    assert len(first) == n if n == 5 else len(first) > 20
    for _ in range(3):  # new posts planned, posted, replied to
        loop.run_for(2)
        _same_recent(loop, kept, n)

    # queued posts skipped (they leave the set: older rows come in) and another posted
    queued = _ids(loop, cm.c.status == QUEUED)
    assert len(queued) >= 3
    _set_status(loop, queued[-1], SKIPPED)
    _set_status(loop, queued[0], POSTED)
    _same_recent(loop, kept, n)
    _set_status(loop, queued[-2], SKIPPED)
    _same_recent(loop, kept, n)

    # a person approves an old skipped draft: it becomes live below every row still moving
    skipped = _ids(loop, cm.c.status == SKIPPED)
    for row_id in (skipped[0], skipped[len(skipped) // 2], skipped[-1]):
        _set_status(loop, row_id, QUEUED)
        _same_recent(loop, kept, n)

    # every kept row but a few leaves the set: the rows below the kept ones are read again
    live = _ids(loop, cm.c.status.in_([QUEUED, POSTED]))
    for row_id in live[-(n + 40) :][-40:]:
        _set_status(loop, row_id, SKIPPED)
    _same_recent(loop, kept, n)
    loop.run_for(2)
    _same_recent(loop, kept, n)


def test_the_usage_books_kept_day_is_the_utc_day_of_each_call(store: SqlStore, settings: Settings) -> None:
    """The book keeps the UTC day it loaded and checks a call's time against that day's bounds: whatever the
    zone the time is given in, a call of another UTC day reloads, and the totals are a fresh book's."""
    ensure_account(store, settings, datetime(2026, 3, 10, tzinfo=UTC))
    book = UsageBook(store, settings.account, price_table("x", {}))
    read = Call("GET /2/tweets", "post_read", "metrics", ("post:1",))
    times = [
        datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 11, 1, 30, tzinfo=timezone(timedelta(hours=2))),  # 23:30 UTC, the same day: charged
        datetime(2026, 3, 10, 23, 30, tzinfo=timezone(timedelta(hours=-2))),  # 01:30 UTC the next day
        datetime(2026, 3, 11, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 12, 0, 0, tzinfo=UTC),  # the next day, at its first instant
    ]
    charged = [book.record([read], at) for at in times]
    assert charged == [5_000, 0, 5_000, 0, 5_000]
    for at in times:
        fresh = UsageBook(store, settings.account, price_table("x", {}))
        assert book.totals(at) == fresh.totals(at)


def test_a_tick_holds_one_connection_and_a_failed_run_gives_it_back(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tick's pause read and its folded runs share one checked-out connection (kept by the runner up to the
    flush); a failed run's outcome is written on a connection of its own, and the run after it takes another."""
    checkouts: list[object] = []
    event.listen(loop.store.engine, "checkout", lambda *a: checkouts.append(a))
    order = list(registry.JOBS)

    def fine(store: SqlStore, *_args: object) -> JobResult:
        with store.begin() as conn:
            store.set_state(conn, "default", f"ran-{len(ran)}", 1)
        ran.append(1)
        return JobResult(1, 1)

    def broken(*_args: object) -> JobResult:
        raise RuntimeError("boom")

    ran: list[int] = []
    for job in order:
        monkeypatch.setitem(registry.JOBS, job, broken if job == order[2] else fine)
    loop.scheduler._reaped_at = loop.clock.now()  # no reaping in this tick: only its runs check out
    outcomes = loop.scheduler.tick()
    assert [o.status for o in outcomes] == ["failed" if j == order[2] else "succeeded" for j in order]
    # the tick's, the failed outcome's own, and the one taken again by the run after the failure
    assert len(checkouts) == 3
    assert loop.store._held is None  # given back at the flush
    with loop.store.connect() as conn:
        runs = conn.execute(select(job_runs.c.job, job_runs.c.status).order_by(job_runs.c.id)).all()
        assert [tuple(r) for r in runs] == [(o.job, o.status) for o in outcomes]
        due = conn.execute(select(job_schedule.c.job, job_schedule.c.next_due)).all()
    assert all(next_due > START for _job, next_due in due) and len(due) == len(order)  # every slot advanced


def test_the_sqlite_datetime_bind_writes_what_the_type_and_dialect_chain_writes() -> None:
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.types import TypeDecorator

    from growthloop.adapters.store.tables import UTCDateTime

    dialect = sqlite.dialect()
    column = UTCDateTime().dialect_impl(dialect)
    fused, chain = column.bind_processor(dialect), TypeDecorator.bind_processor(column, dialect)
    assert fused is not None and chain is not None and fused is not chain
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for step in range(0, 400_000_000, 7_777_777):
        at = start + timedelta(seconds=step, microseconds=step % 1_000_000 if step % 2 else 0)
        for zone in (UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))):
            assert fused(at.astimezone(zone)) == chain(at.astimezone(zone))
    assert fused(None) is None
    with pytest.raises(ValueError, match="naive"):
        fused(datetime(2026, 1, 1))


def test_the_gates_word_bits_find_the_matches_the_word_sets_find() -> None:
    import random

    from growthloop.loop import gate

    rng = random.Random(5)
    words = [f"w{i}" for i in range(60)]
    texts = [" ".join(rng.sample(words, rng.randint(3, 25))) for _ in range(300)]
    probes = [" ".join(t.split()[:-1] + [rng.choice(words)]) for t in texts[:150]] + texts[150:]

    def matches(bits: gate.WordBits) -> list[gate.DuplicateMatch | None]:
        recent = gate.RecentPosts(texts[:200], bits=bits)
        return [recent.match(p, threshold) for p in probes for threshold in (0.5, 0.8, 1.0)]

    bits = gate.WordBits()
    with_bits = matches(bits)
    assert sum(m is not None for m in with_bits) > 100 and len(bits) == len(words)
    # the vocabulary full with half the words: the texts with another word are compared as sets
    half = gate.WordBits(max_words=len(words) // 2)
    half.of(frozenset(words[::2]))
    assert len(half) == len(words) // 2
    assert matches(_kept(half)) == with_bits
    # no word has a bit: every text is compared as a set
    assert matches(_kept(gate.WordBits(max_words=0))) == with_bits
    # a kept vocabulary is used again by the next run's recent posts, and renewed there once full
    assert matches(bits) == with_bits and len(bits) == len(words)
    full = gate.WordBits(max_words=len(words))
    matches(full)
    assert len(full) == len(words)
    gate.RecentPosts(texts[:1], bits=full)
    assert len(full) == 0


def _kept(bits: WordBits) -> WordBits:
    """A vocabulary as it was left full by earlier runs: not renewed for this test's recent posts."""
    bits.renew_if_full = lambda: None  # type: ignore[method-assign]
    return bits
