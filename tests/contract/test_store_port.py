"""The Store port's contract (`growthloop.ports.Store`), run over SqlStore on SQLite and on PostgreSQL.

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
from growthloop.adapters.store.store import SqlStore, make_engine
from growthloop.adapters.store.tables import accounts, content_metadata, job_runs
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
