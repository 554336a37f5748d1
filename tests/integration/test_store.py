"""The store on SQLite and PostgreSQL: migrations match the models, times stay UTC, the schema is checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from growthloop.adapters.store.store import HEAD, REVISIONS, SqlStore, alembic_config
from growthloop.adapters.store.tables import accounts, follower_snapshots, metadata
from growthloop.errors import SchemaError, UserError


def test_migrations_give_the_models_schema(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_every_table_carries_the_account(store: SqlStore) -> None:
    # app_limits is the platform app's own counter, shared by every account (docs/distributed.md)
    names = set(inspect(store.engine).get_table_names()) - {"alembic_version", "accounts", "app_limits"}
    assert {"content_metadata", "post_attribution", "topic_performance", "hook_performance"} <= names
    for name in names:
        columns = {c["name"] for c in inspect(store.engine).get_columns(name)}
        assert "account" in columns, name


def test_times_come_back_aware_utc(store: SqlStore) -> None:
    at = datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    with store.begin() as conn:
        conn.execute(accounts.insert().values(name="a", platform="sim", created_at=at))
        conn.execute(follower_snapshots.insert().values(account="a", observed_at=at, followers=3, source="t"))
    with store.connect() as conn:
        got = conn.execute(select(follower_snapshots.c.observed_at)).scalar_one()
    assert got == at and got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_naive_times_are_refused(store: SqlStore) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.begin() as conn:
        conn.execute(accounts.insert().values(name="a", platform="sim", created_at=datetime(2026, 3, 2)))


def test_the_revisions_known_at_build_time_are_alembics() -> None:
    """The schema check compares with `REVISIONS` instead of loading Alembic's scripts: they must be the same."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert REVISIONS == tuple(reversed([r.revision for r in script.walk_revisions()]))
    assert HEAD == script.get_current_head()


def test_a_migrated_database_is_at_the_head_and_upgrading_it_again_changes_nothing(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD == store.current_revision()
    store.upgrade()
    store.check_schema()
    assert store.current_revision() == HEAD


def test_an_older_schema_is_refused_then_upgraded(tmp_path: Path) -> None:
    from alembic import command

    store = SqlStore(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(store.url), REVISIONS[-2])
    assert store.current_revision() == REVISIONS[-2]
    with pytest.raises(SchemaError, match=f"{REVISIONS[-2]} is older than this growthloop's {HEAD}.*db upgrade"):
        store.check_schema()
    store.upgrade()
    assert store.current_revision() == HEAD
    store.check_schema()
    store.dispose()


def test_a_newer_schema_is_refused(store: SqlStore) -> None:
    with store.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaError, match="9999_future is newer than this growthloop"):
        store.check_schema()
    with pytest.raises(SchemaError, match="newer"):
        store.upgrade()  # no migration may run over a schema it does not know
    with store.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "9999_future"


def test_an_empty_database_is_refused_until_initialised(db_url: str) -> None:
    store = SqlStore(db_url)
    with pytest.raises(SchemaError, match="not initialised.*growthloop init"):
        store.check_schema()
    store.upgrade()
    store.check_schema()
    store.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(f"sqlite:///{tmp_path / 'x.db'}")
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    store.dispose()


def test_state_round_trips(store: SqlStore) -> None:
    with store.begin() as conn:
        conn.execute(accounts.insert().values(name="a", platform="sim", created_at=datetime.now(UTC)))
        store.set_state(conn, "a", "k", {"x": 1})
        store.set_state(conn, "a", "k", {"x": 2})
    with store.connect() as conn:
        assert store.get_state(conn, "a", "k") == {"x": 2}
        assert store.get_state(conn, "a", "missing") is None


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("INSERT INTO alembic_version (version_num) VALUES ('0001')", "has 2 schema revisions.*changed by hand"),
        ("DELETE FROM alembic_version", "not initialised|has tables but no growthloop schema version"),
    ],
    ids=["two revisions", "no revision"],
)
def test_a_version_table_changed_by_hand_is_refused_and_nothing_is_written(
    store: SqlStore, tamper: str, message: str
) -> None:
    """Alembic keeps one row in its version table; a table with two, or with none beside growthloop's tables, is
    refused by the check and by the upgrade, and the data and the version rows stay as they were."""
    with store.begin() as conn:
        conn.execute(accounts.insert().values(name="kept", platform="sim", created_at=datetime(2026, 3, 2, tzinfo=UTC)))
        conn.execute(text(tamper))
        versions = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    with pytest.raises(UserError, match=message):
        store.check_schema()
    with pytest.raises(UserError, match=message):
        store.upgrade()
    with store.connect() as conn:
        assert sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == versions
        assert conn.execute(select(accounts.c.name)).scalars().all() == ["kept"]
