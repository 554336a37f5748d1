"""The Store port's contract (`growthloop.ports.Store`, and the stages' records `ports.Records`), run over SqlStore
and SqlRecords on SQLite and on PostgreSQL.

What every stage may rely on: a `begin()` block commits at its end and rolls back when it raises; what
`connect()` and `run` read outside one is never written for good; `hold()` serves one connection to a job
run and keeps each `begin()` inside its own transaction; a prepared statement gives the same rows, types
(aware UTC datetimes, JSON, booleans, NULLs) and rowcounts as SQLAlchemy gives for it, in one call or as
an executemany; a refused write is SQLAlchemy's IntegrityError and leaves nothing; the state is one JSON
value per (account, key). New adapters join by taking the `store` fixture's place.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, event, func, select, update
from sqlalchemy.exc import IntegrityError

from growthloop.adapters.store.prepared import Prepared, PreparedInsert
from growthloop.adapters.store.records import SqlRecords
from growthloop.adapters.store.store import SqlStore, make_engine
from growthloop.adapters.store.tables import accounts, content_metadata, job_runs, platform_usage
from growthloop.domain import DIMENSIONS, PublishReceipt, ValueStats
from growthloop.ports import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)

_RUN_INSERT = PreparedInsert(job_runs)
_BY_JOB = Prepared(
    select(job_runs.c.id, job_runs.c.job, job_runs.c.scheduled_for, job_runs.c.items_in, job_runs.c.wall_ms)
    .where(job_runs.c.account == bindparam("account"), job_runs.c.job == bindparam("job"))
    .order_by(job_runs.c.scheduled_for)
)
_FINISH = Prepared(
    update(job_runs)
    .where(job_runs.c.job == bindparam("job"), job_runs.c.status == "running")
    .values(status=bindparam("status"), finished_at=bindparam("at"))
)
_COUNT = Prepared(select(func.count()).select_from(job_runs).where(job_runs.c.account == bindparam("account")))
_CONTENT = PreparedInsert(content_metadata)
_CONTENT_READ = Prepared(
    select(content_metadata.c.thread_parts, content_metadata.c.is_thread, content_metadata.c.kind).where(
        content_metadata.c.decision_id == bindparam("d")
    )
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """SqlStore on each database it supports (tests/contract/conftest.py's db_url is SQLite only)."""
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = SqlStore(str(url))
    s.upgrade()
    yield s
    s.dispose()


@pytest.fixture
def port(store: SqlStore) -> Iterator[Store]:
    with store.begin() as conn:
        conn.execute(accounts.insert().values(name="a", platform="sim", created_at=T0))
    yield store


@pytest.fixture
def other(store: SqlStore) -> Iterator[Engine]:
    """Another process's view of the same database."""
    engine = make_engine(store.url)
    yield engine
    engine.dispose()


def _run(job: str, at: datetime, **extra: object) -> dict[str, object]:
    return dict(account="a", job=job, scheduled_for=at, started_at=at, status="running", attempt=1, **extra)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(job_runs)).scalar_one())


def test_sqlstore_is_a_store(store: SqlStore) -> None:
    assert isinstance(store, Store)
    assert store.dialect in ("sqlite", "postgresql") and store.url


def test_a_begin_block_commits_at_its_end_and_rolls_back_when_it_raises(port: Store, other: Engine) -> None:
    with port.begin() as conn:
        port.run_insert(conn, _RUN_INSERT, _run("followers", T0))
        assert _count(other) == 0  # not visible before the block ends
    assert _count(other) == 1
    with pytest.raises(RuntimeError), port.begin() as conn:
        port.run_insert(conn, _RUN_INSERT, _run("metrics", T0))
        raise RuntimeError("the stage failed")
    assert _count(other) == 1


def test_what_connect_writes_outside_begin_is_not_kept(port: Store, other: Engine) -> None:
    with port.connect() as conn:
        port.run_insert(conn, _RUN_INSERT, _run("followers", T0))
    assert _count(other) == 0


def test_prepared_rows_match_sqlalchemys(port: Store) -> None:
    eastern = timezone(timedelta(hours=-5))
    with port.begin() as conn:
        port.run_insert(
            conn,
            _RUN_INSERT,
            [_run("post", T0 + timedelta(minutes=15 * i), items_in=i, wall_ms=i / 4) for i in range(3)]
            + [_run("post", datetime(2026, 1, 1, 2, tzinfo=eastern))],  # 07:00 UTC
        )
    with port.connect() as conn:
        fast = port.run(conn, _BY_JOB, {"account": "a", "job": "post"}).all()
        slow = conn.execute(_BY_JOB.statement, {"account": "a", "job": "post"}).all()
    assert [tuple(r) for r in fast] == [tuple(r) for r in slow]
    assert [r.scheduled_for for r in fast][-1] == datetime(2026, 1, 1, 7, tzinfo=UTC)
    assert all(r.scheduled_for.tzinfo is not None and r.scheduled_for.utcoffset() == timedelta(0) for r in fast)
    assert [(r.items_in, r.wall_ms) for r in fast] == [(0, 0.0), (1, 0.25), (2, 0.5), (None, None)]
    with pytest.raises(AttributeError):
        _ = fast[0].no_such_column


def test_rowcount_scalars_and_first(port: Store) -> None:
    with port.begin() as conn:
        port.run_insert(conn, _RUN_INSERT, [_run("post", T0), _run("post", T0 + timedelta(hours=1))])
        assert port.run(conn, _FINISH, {"job": "post", "status": "succeeded", "at": T0}).rowcount == 2
        assert port.run(conn, _FINISH, {"job": "post", "status": "succeeded", "at": T0}).rowcount == 0
        assert port.run(conn, _COUNT, {"account": "a"}).scalar_one() == 2
        assert port.run(conn, _COUNT, {"account": "nobody"}).scalars() == [0]
        assert port.run(conn, _BY_JOB, {"account": "a", "job": "learn"}).first() is None


def test_json_booleans_and_column_defaults_round_trip(port: Store) -> None:
    row = dict(
        account="a",
        decision_id="a-0000001",
        status="queued",
        topic="t",
        angle="a",
        tone="t",
        format_strategy="f",
        hook="h",
        generator="g",
        content="one\n\ntwo",
        content_sha="0" * 64,
        thread_parts=["one", "two"],
        policy="uniform",
        propensity=0.5,
        propensities={"topic": 0.5},
        created_at=T0,
        updated_at=T0,
    )
    with port.begin() as conn:
        port.run_insert(conn, _CONTENT, row)  # kind and is_thread left out: their defaults
        found = port.run(conn, _CONTENT_READ, {"d": "a-0000001"}).one()
    assert (found.thread_parts, found.is_thread, found.kind) == (["one", "two"], False, "post")


def test_a_refused_write_is_an_integrity_error_and_leaves_nothing(port: Store, other: Engine) -> None:
    with port.begin() as conn:
        port.run_insert(conn, _RUN_INSERT, _run("followers", T0))
    with pytest.raises(IntegrityError), port.begin() as conn:
        port.run_insert(conn, _RUN_INSERT, _run("metrics", T0))
        port.run_insert(conn, _RUN_INSERT, _run("followers", T0))  # the same run key again
    assert _count(other) == 1


def test_a_missing_parameter_is_refused_before_anything_is_sent(port: Store) -> None:
    with port.connect() as conn, pytest.raises(Exception, match="job"):
        port.run(conn, _BY_JOB, {"account": "a"})


def test_state_is_one_json_value_per_account_and_key(port: Store, other: Engine) -> None:
    with port.begin() as conn:
        assert port.get_state(conn, "a", "fit") is None
        port.set_state(conn, "a", "fit", {"x": [1, 2.5], "ok": True})
        port.set_state(conn, "a", "fit", {"x": [3]})  # overwritten, not added
        port.set_state(conn, "b", "fit", "other account")
    with port.connect() as conn:
        assert port.get_state(conn, "a", "fit") == {"x": [3]}
        assert port.get_state(conn, "b", "fit") == "other account"


def test_hold_serves_one_connection_and_keeps_each_begin_a_transaction(store: SqlStore, other: Engine) -> None:
    port: Store = store
    with port.begin() as conn:
        conn.execute(accounts.insert().values(name="a", platform="sim", created_at=T0))
    checkouts: list[object] = []
    event.listen(store.engine, "checkout", lambda *a: checkouts.append(a))
    with port.hold():
        with port.begin() as conn:
            port.run_insert(conn, _RUN_INSERT, _run("followers", T0))
        assert _count(other) == 1  # committed at the block's end, though the connection is still held
        with port.connect() as conn:
            assert port.run(conn, _COUNT, {"account": "a"}).scalar_one() == 1
        with pytest.raises(RuntimeError), port.begin() as conn:
            port.run_insert(conn, _RUN_INSERT, _run("metrics", T0))
            raise RuntimeError("the stage failed")
        with port.begin() as conn:
            port.run_insert(conn, _RUN_INSERT, _run("learn", T0))
    assert len(checkouts) == 1
    with other.connect() as conn:
        assert sorted(conn.execute(select(job_runs.c.job)).scalars()) == ["followers", "learn"]


# -- the stages' records (ports.Records) on SqlStore --------------------------------------------------------------
# Each record protocol's methods, held by the SQL records on SQLite and PostgreSQL: what a stage writes reads
# back, the claim refuses a second taker, the readers see what the writers left. The stages' own tests run them
# through the loop; these pin the port.

LEASE_TOKEN = "t" * 32


class _FixedLease:
    """A lease check that always finds this process holding the lease (jobs/lease.py keeps the real one)."""

    def live_token(self, conn: object, account: str) -> str | None:
        return LEASE_TOKEN

    def verify_held(self, conn: object, account: str) -> str | None:
        return LEASE_TOKEN


@pytest.fixture
def records(store: SqlStore) -> SqlRecords:
    with store.begin() as conn:
        conn.execute(accounts.insert().values(name="a", platform="sim", created_at=T0))
    return SqlRecords(store, _FixedLease())


def _content(n: int, status: str = "queued", kind: str = "post", topic: str = "sleep") -> dict[str, object]:
    text = f"post number {n}"
    return dict(
        account="a",
        decision_id=f"a-{n:07d}",
        status=status,
        status_reason=None,
        kind=kind,
        in_reply_to=None,
        topic=topic,
        angle="how_to",
        tone="casual",
        format_strategy="list",
        hook="question",
        generator="coach",
        content=text,
        content_sha=f"{n:064d}",
        brief_insights=[],
        thread_parts=None,
        is_thread=False,
        policy="uniform",
        propensity=0.5,
        propensities={"topic": 0.5},
        created_at=T0 + timedelta(minutes=n),
        updated_at=T0 + timedelta(minutes=n),
    )


def _posted(store: SqlStore, records: SqlRecords, n: int, at: datetime, topic: str = "sleep") -> None:
    """Content n, claimed and posted at `at` as the post stage does it."""
    with store.begin() as conn:
        records.plan.add_content(conn, [_content(n, topic=topic)])
        row = records.post.oldest_queued(conn, "a", "post")
        assert records.post.take(conn, row.id, at) == 1
        attempt = records.post.record_attempt(conn, "a", row.decision_id, "post", at, LEASE_TOKEN)
        receipt = PublishReceipt(platform_id=f"p{n}", part_ids=(f"p{n}",), published_at=at)
        records.post.mark_posted(conn, row.decision_id, attempt, receipt, at, "published")


def _members(protocol: type) -> set[str]:
    return {n for n in vars(protocol) if not n.startswith("_")} | {
        n
        for base in protocol.__mro__[1:]
        if base.__module__ == "growthloop.ports"
        for n in vars(base)
        if not n.startswith("_")
    }


def test_sql_records_have_every_method_of_the_record_protocols(records: SqlRecords) -> None:
    from growthloop import ports

    for name, protocol in [
        ("post", ports.PostRecords),
        ("plan", ports.PlanRecords),
        ("reply", ports.ReplyRecords),
        ("measure", ports.MeasureRecords),
        ("attribution", ports.AttributionRecords),
        ("history", ports.HistoryRecords),
        ("learn", ports.LearnRecords),
        ("policy", ports.PolicyRecords),
    ]:
        part = getattr(records, name)
        missing = {m for m in _members(protocol) if not callable(getattr(part, m, None))}
        assert not missing, f"{name}: {missing}"
    assert _members(ports.Records) <= set(vars(records))


def test_the_claim_takes_a_queued_post_once_and_records_the_attempt_first(store: SqlStore, records: SqlRecords) -> None:
    post = records.post
    with store.begin() as conn:
        records.plan.add_content(conn, [_content(1), _content(2)])
    with store.connect() as conn:
        assert post.waiting(conn, "a") == [("queued", "post", 2)]
    now = T0 + timedelta(hours=1)
    with store.begin() as conn:
        post.lock_account(conn, "a")
        assert post.verify_held(conn, "a") == LEASE_TOKEN
        row = post.oldest_queued(conn, "a", "post")
        assert row.decision_id == "a-0000001" and row.content == "post number 1"
        assert post.take(conn, row.id, now) == 1
        assert post.take(conn, row.id, now) == 0  # a second taker finds it no longer queued
        attempt = post.record_attempt(conn, "a", row.decision_id, "post", now, LEASE_TOKEN)
    with store.connect() as conn:  # committed: what reconciliation finds after a crash
        assert sorted(post.waiting(conn, "a")) == [("posting", "post", 1), ("queued", "post", 1)]
        assert [r.decision_id for r in post.posting(conn, "a")] == ["a-0000001"]
        last = post.last_attempt(conn, "a-0000001")
        assert (last.id, last.outcome, last.lease_token) == (attempt, "pending", LEASE_TOKEN)
        assert post.attempts(conn, "a-0000001") == 1
        assert post.attempt_starts(conn, "a", "post", now - timedelta(hours=1)) == [now]
        assert post.attempt_starts(conn, "a", "reply", now - timedelta(hours=1)) == []
        assert post.live_token(conn, "a") == LEASE_TOKEN


def test_a_posted_receipt_and_a_settled_failure_round_trip(store: SqlStore, records: SqlRecords) -> None:
    post = records.post
    at = T0 + timedelta(hours=2)
    _posted(store, records, 1, at)
    with store.begin() as conn:
        records.plan.add_content(conn, [_content(2)])
        row = post.oldest_queued(conn, "a", "post")
        post.take(conn, row.id, at)
        attempt = post.record_attempt(conn, "a", row.decision_id, "post", at, None)
    with store.begin() as conn:
        post.attempt_failed(conn, attempt, "failed", at, "rejected by sim: too long")
        post.settle(conn, row.decision_id, "failed", "rejected by sim: too long", at)
    with store.begin() as conn:
        records.plan.add_content(conn, [_content(3)])
        row3 = post.oldest_queued(conn, "a", "post")
        post.take(conn, row3.id, at)
        attempt3 = post.record_attempt(conn, "a", row3.decision_id, "post", at, None)
    with store.begin() as conn:
        post.not_found(conn, attempt3, row3.decision_id, "queued", "not found: retrying", at)
    with store.connect() as conn:
        got = {
            r.decision_id: (r.status, r.status_reason, r.tweet_id, r.part_ids, r.posted_at)
            for r in conn.execute(select(content_metadata))
        }
        assert got["a-0000001"] == ("posted", None, "p1", ["p1"], at)
        assert got["a-0000002"][:2] == ("failed", "rejected by sim: too long")
        assert got["a-0000003"][:2] == ("queued", "not found: retrying")
        assert post.last_attempt(conn, "a-0000001").outcome == "published"
        assert post.last_attempt(conn, "a-0000002").outcome == "failed"
        assert post.last_attempt(conn, "a-0000003").outcome == "failed"
        assert post.waiting(conn, "a") == [("queued", "post", 1)]


def test_plan_records_read_the_queue_and_the_recent_texts(store: SqlStore, records: SqlRecords) -> None:
    plan = records.plan
    with store.begin() as conn:
        plan.add_content(conn, [_content(1), _content(2, kind="reply"), _content(3, status="skipped")])
        plan.add_content(conn, [_content(4, topic="focus")])
    with store.connect() as conn:
        assert plan.content_count(conn, "a") == 4
        assert plan.queue_depth(conn, "a") == 2  # posts queued or posting; not the reply, not the skipped
        assert plan.statuses_of_text(conn, "a", f"{3:064d}") == ["skipped"]
        assert plan.statuses_of_text(conn, "a", "0" * 63 + "9") == []
        latest = plan.latest(conn, "a", 2)
        assert [(r.topic, r.content) for r in latest] == [("focus", "post number 4"), ("sleep", "post number 2")]


def test_reply_records_store_each_opportunity_once_and_act_on_it(store: SqlStore, records: SqlRecords) -> None:
    reply = records.reply
    now = T0 + timedelta(hours=3)

    def found(pid: str, score: float, created: datetime) -> dict[str, object]:
        return dict(
            account="a",
            platform_id=pid,
            kind="mention",
            author="someone",
            author_followers=10,
            text="hello",
            created_at=created,
            found_at=now,
            score=score,
            score_parts={"summoned": 0.5},
            status="new",
            updated_at=now,
        )

    with store.begin() as conn:
        reply.add_opportunities(conn, [found("m1", 0.9, now), found("m2", 0.1, now), found("m3", 0.8, T0)])
    with store.connect() as conn:
        assert reply.known(conn, "a", now - timedelta(hours=1)) == {"m1", "m2", "m3"}
        assert reply.last_found(conn, "a") == now
    with store.begin() as conn:
        assert reply.skip_stale(conn, "a", now - timedelta(hours=1), 0.5, now) == 2  # m2 scored low, m3 too old
        [best] = reply.candidates(conn, "a")
        assert best.platform_id == "m1"
        records.plan.add_content(conn, [_content(1, kind="reply")])
        reply.acted(conn, best.id, "drafted", "awaiting approval", "a-0000001", now)
    with store.connect() as conn:
        assert reply.drafted(conn, "a") == 1 and reply.replies_waiting(conn, "a") == 1
        row = reply.opportunity(conn, "a", best.id)
        assert (row.status, row.decision_id) == ("drafted", "a-0000001")
        assert reply.opportunity(conn, "a", best.id + 100) is None
    with store.begin() as conn:
        reply.approve_content(conn, "a-0000001", now)
        reply.settle_opportunity(conn, best.id, "queued", "approved by a person", now)
    with store.connect() as conn:
        listed = reply.listing(conn, "a", None, 10)
        assert [r["platform_id"] for r in listed] == ["m1", "m3", "m2"]  # best first
        assert listed[0]["status"] == "queued" and listed[0]["reply"] == "post number 1"
        assert [r["platform_id"] for r in reply.listing(conn, "a", "skipped", 10)] == ["m3", "m2"]


def test_measure_and_history_records_round_trip_the_snapshots(store: SqlStore, records: SqlRecords) -> None:
    measure, history = records.measure, records.history
    at = T0 + timedelta(hours=1)
    _posted(store, records, 1, at, topic="sleep")
    _posted(store, records, 2, at + timedelta(minutes=30), topic="focus")
    now = at + timedelta(hours=2)
    bands = [("1h", now - timedelta(hours=1), now - timedelta(hours=3))]
    with store.connect() as conn:
        assert sorted(measure.due(conn, "a", bands)) == [("a-0000001", "p1", "1h"), ("a-0000002", "p2", "1h")]
    snapshot = dict(account="a", checkpoint="1h", source="sim", observed_at=now, impressions=100, profile_clicks=3)
    with store.begin() as conn:
        measure.add_metrics(conn, [dict(snapshot, decision_id="a-0000001", tweet_id="p1", likes=5, reposts=1)])
        measure.add_followers(conn, "a", now, 42, "sim")
    with store.connect() as conn:
        assert measure.due(conn, "a", bands) == [("a-0000002", "p2", "1h")]  # one snapshot per checkpoint
        assert history.followers(conn, "a", T0, now) == [(now, 42)]
        assert history.posted_count(conn, "a", T0, now) == 2
        posts = history.posts(conn, "a", T0, now, decisions=True)
        assert [(p.decision_id, p.tweet_id, p.kind, p.topic, p.policy) for p in posts] == [
            ("a-0000001", "p1", "post", "sleep", "uniform"),
            ("a-0000002", "p2", "post", "focus", "uniform"),
        ]
        assert history.topics_before(conn, "a", now) == ["sleep", "focus"]  # oldest first
        assert history.recent_topics(conn, "a") == ["sleep", "focus"]
        mark = history.snapshot_mark(conn, "a", now)
        assert mark is not None and history.snapshot_mark(conn, "a", now, after=mark) is None
        expected = [("a-0000001", "1h", 100, 3, 6)]  # engagements: what the platform shows, summed
        assert [tuple(r) for r in history.snapshots_between(conn, "a", 0, mark)] == expected
        assert [tuple(r) for r in history.latest_snapshots(conn, ["a-0000001", "a-0000002"], now)] == expected
        assert [tuple(r) for r in history.all_snapshots(conn, ["a-0000001"], now)] == expected
        assert history.all_snapshots(conn, ["a-0000001"], now - timedelta(seconds=1)) == []
        assert history.database(conn)


def test_attribution_and_learn_records_round_trip_the_figures(store: SqlStore, records: SqlRecords) -> None:
    attribution, learn = records.attribution, records.learn
    at = T0 + timedelta(hours=1)
    _posted(store, records, 1, at)
    _posted(store, records, 2, at + timedelta(hours=1))
    now = at + timedelta(days=3)
    with store.connect() as conn:
        pending = attribution.pending(conn, "a", now)
        assert [(p.decision_id, p.attribution_id) for p in pending] == [("a-0000001", None), ("a-0000002", None)]
        assert [p.decision_id for p in attribution.pending(conn, "a", now, since=at + timedelta(minutes=1))] == [
            "a-0000002"
        ]
    figures = dict(
        followers_before=10,
        followers_2h=11,
        followers_24h=12,
        followers_48h=13,
        window_delta=3,
        attributed_followers=1.5,
        attributed_sd=0.5,
        missing_reason=None,
        method="kernel",
        method_version="1",
        updated_at=now,
    )
    first = dict(figures, account="a", decision_id="a-0000001", tweet_id="p1", posted_at=at, final=False)
    with store.begin() as conn:
        attribution.write(conn, [first], [])
    with store.begin() as conn:
        attribution.write(conn, [], [dict(figures, key="a-0000001", final=True, attributed_followers=2.0)])
    with store.connect() as conn:
        assert [p.decision_id for p in attribution.pending(conn, "a", now)] == ["a-0000002"]  # final: done
        [row] = learn.figures(conn, ["a-0000001", "a-0000002"])
        assert (row.decision_id, row.attributed_followers, row.attributed_sd, row.final) == (
            "a-0000001",
            2.0,
            0.5,
            True,
        )
        assert learn.final_decisions(conn, "a") == {"a-0000001"}
        [delta] = records.policy.window_deltas(conn, "a")
        assert (delta.topic, delta.window_delta) == ("sleep", 3)


def test_the_performance_tables_are_what_learn_wrote_last(store: SqlStore, records: SqlRecords) -> None:
    learn = records.learn

    def stats(value: str, uses: int) -> ValueStats:
        return ValueStats("topic", value, uses, 100.0, 0.02, 1.5, 3.0, 1.4, 0.9, 2.1, 0.8)

    with store.connect() as conn:
        assert learn.performance(conn, "a") == {d: [] for d in DIMENSIONS}
    with store.begin() as conn:
        learn.write_performance(conn, "a", [stats("sleep", 2), stats("focus", 1)], T0)
    with store.begin() as conn:
        learn.write_performance(conn, "a", [stats("sleep", 3)], T0 + timedelta(hours=2))  # focus is gone
    with store.connect() as conn:
        tables = learn.performance(conn, "a")
    assert tables["topic"] == [stats("sleep", 3)] and tables["angle"] == []


def test_the_spend_is_summed_over_the_days_asked(store: SqlStore, records: SqlRecords) -> None:
    def usage(day: str, cost: int) -> dict[str, object]:
        return dict(
            account="a",
            platform="x",
            endpoint="POST /2/tweets",
            category="post_create",
            purpose="post",
            at=T0,
            day=day,
            resources=1,
            billed=1,
            unit_micros=cost,
            cost_micros=cost,
            resource_ids=[],
        )

    with store.begin() as conn:
        conn.execute(
            platform_usage.insert(), [usage("2026-01-01", 10), usage("2026-01-02", 20), usage("2026-02-01", 40)]
        )
    with store.connect() as conn:
        assert records.policy.spent(conn, "a", "2026-01-01", "2026-02-01") == 30
        assert records.policy.spent(conn, "a", "2026-01-02", "2026-01-02~") == 20
        assert records.policy.spent(conn, "a", "2026-03-01", "2026-04-01") == 0


def test_post_records_without_the_lease_check_refuse_to_claim(store: SqlStore) -> None:
    bare = SqlRecords(store)  # a reader's records (status, the web pages)
    with store.begin() as conn, pytest.raises(RuntimeError, match="lease"):
        bare.post.verify_held(conn, "a")
