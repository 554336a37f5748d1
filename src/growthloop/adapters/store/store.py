"""SqlStore: the Store port on SQLAlchemy 2 (SQLite in WAL mode by default, PostgreSQL by URL)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, inspect, make_url, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from growthloop.adapters.store.boundary import (
    check_sqlite_file,
    read_only_connect_args,
    refuse_bad_url,
    translate,
    translate_errors,
)
from growthloop.adapters.store.prepared import Prepared, PreparedInsert, Rows
from growthloop.adapters.store.tables import app_state, metadata
from growthloop.errors import SchemaError, StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The migrations' revision ids, oldest first, as this growthloop was built with them: every command's schema
# check compares the database's revision with these, without Alembic's script machinery (loading it, and the
# migration files, cost about 0.15 s of CPU a command). Alembic itself is imported only to migrate.
# tests/integration/test_store.py checks that they are Alembic's own revisions, in order: a new migration
# adds its id here.
REVISIONS = (
    "0001",
    "0002_account_lease",
    "0003_job_pause",
    "0004_platform_usage",
    "0005_accounts",
    "0006_loop_indexes",
    "0007_app_limits",
    "0008_learn_indexes",
    "0009_account_id_indexes",
)
HEAD = REVISIONS[-1]
VERSION_TABLE = "alembic_version"  # Alembic's, one row: the database's revision


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (status, doctor) work while the loop writes; NORMAL is durable across a
    # process kill in WAL mode, which is the crash the write-ahead ledger has to survive.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # the journal mode is the writer's to set
    cursor.close()


def make_engine(url: str, readonly: bool = False) -> Engine:
    """The engine for a URL; a URL it cannot use is a StoreError, and so is every error its driver raises about
    the database as given (see boundary.py). `readonly` opens SQLite files read-only and makes PostgreSQL
    sessions read-only, so that a command meant to read cannot write, even by mistake."""
    try:
        engine = _create_engine(url, readonly)
    except Exception as exc:  # create_engine only parses the URL and loads its driver: the URL is at fault
        raise refuse_bad_url(url, exc) from None
    translate_errors(engine, url, readonly)
    return engine


def _create_engine(url: str, readonly: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if readonly and database and database != ":memory:" and not database.startswith("file:"):
            uri = Path(database).absolute().as_uri() + "?mode=ro"
            engine = create_engine(
                url, creator=lambda: sqlite3.connect(uri, uri=True, timeout=10, check_same_thread=False)
            )
            event.listen(engine, "connect", _sqlite_read_pragmas)
            return engine
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    args = read_only_connect_args(parsed.get_backend_name()) if readonly else {}
    return create_engine(url, pool_pre_ping=True, connect_args=args)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@dataclass
class Held:
    """The one connection a job run uses for all its reads and transactions (see `SqlStore.hold`)."""

    conn: Connection
    thread: int  # only the thread that holds it is served from it: others get connections of their own
    depth: int = 0  # begin() blocks open


class SqlStore:
    """Owns the engine and the transactions. Stages write through `begin()` (commit or roll back)."""

    def __init__(self, url: str, readonly: bool = False) -> None:
        self.url = url
        self.readonly = readonly
        self.engine = make_engine(url, readonly)
        self._held: Held | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def hold(self) -> Iterator[Held]:
        """Serve every `connect()` and `begin()` from one connection until the block ends (a job run):
        a connection checked out of the pool per read costs more than most of the reads.

        Each `begin()` block is still its own transaction, committed at its end, so a stage's durability
        points (the write-ahead attempt before a platform call) stay where the stage put them.
        """
        if self._held is not None:
            raise RuntimeError("the store already holds a connection for a job run")
        with self.engine.connect() as conn:
            self._held = Held(conn, threading.get_ident())
            try:
                yield self._held
            finally:
                self._held = None

    def _holding(self) -> Held | None:
        held = self._held
        return held if held is not None and held.thread == threading.get_ident() else None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        held = self._holding()
        if held is None:
            with self.engine.begin() as conn:
                yield conn
            return
        if held.depth:  # inside another begin() block: its transaction
            yield held.conn
            return
        conn = held.conn
        if conn.in_transaction():
            conn.rollback()  # the reads' implicit transaction: nothing was written outside begin()
        held.depth = 1
        try:
            with conn.begin():
                yield conn
        finally:
            held.depth = 0

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection to read with (closed, or given back to the job run holding it, at the block's end)."""
        held = self._holding()
        if held is not None:
            yield held.conn
            return
        with self.engine.connect() as conn:
            yield conn

    def run(
        self,
        conn: Connection,
        statement: Prepared,
        values: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> Rows:
        """Send a prepared statement on `conn` (prepared.py): the loop's frequent small statements, without
        SQLAlchemy's per-execution cost; the driver's errors become ours as with `conn.execute`."""
        return statement.run(conn, values, self._translate)

    def run_insert(
        self, conn: Connection, insert: PreparedInsert, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> Rows:
        """Insert rows with a prepared insert (prepared.py)."""
        return insert.run(conn, rows, self._translate)

    def _translate(self, error: BaseException) -> Exception | None:
        return translate(error, self.url, connecting=False, readonly=self.readonly)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------------
    def upgrade(self) -> None:
        """Create or migrate the schema to the code's head revision (nothing to do, and Alembic not loaded, when
        the database is at the head already)."""
        self._check_file(create=True)
        current = self.current_revision()
        self._refuse_newer(current)
        if current is None:
            self._refuse_foreign()
        elif current == HEAD:
            return
        from alembic import command

        cfg = alembic_config(self.url)
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def head_revision(self) -> str:
        return HEAD

    def current_revision(self) -> str | None:
        """The database's schema revision: None when it has no version table (or an empty one), as for Alembic."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(VERSION_TABLE):
                return None
            found = list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
        if len(found) > 1:
            raise SchemaError(
                f"database {self.safe_url()} has {len(found)} schema revisions ({', '.join(sorted(found))}), "
                "growthloop's migrations make one: it was changed by hand; restore a backup"
            )
        return found[0] if found else None

    def _refuse_newer(self, current: str | None) -> None:
        if current is not None and current not in REVISIONS:
            raise SchemaError(
                f"database schema revision {current} is newer than this growthloop knows "
                f"(its newest is {HEAD}); upgrade growthloop, do not use this version "
                "on this database"
            )

    def sqlite_path(self) -> Path | None:
        """The file of a SQLite database (None for PostgreSQL or an in-memory database)."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database)

    def check_schema(self) -> None:
        """The start-up check of I6: refuse a database newer than the code or not yet upgraded."""
        self._check_file(create=False)
        current = self.current_revision()
        self._refuse_newer(current)
        if current is None:
            self._refuse_foreign()
            raise SchemaError(f"database {self.safe_url()} is not initialised (it is empty); run: growthloop init")
        if current != HEAD:
            raise SchemaError(
                f"database schema revision {current} is older than this growthloop's {HEAD}; run: growthloop db upgrade"
            )
        missing = sorted(set(metadata.tables) - set(inspect(self.engine).get_table_names()))
        if missing:
            raise SchemaError(
                f"database {self.safe_url()} is missing the tables {', '.join(missing)} of schema revision {current}: "
                "it was changed by hand; restore a backup"
            )

    def _refuse_foreign(self) -> None:
        """Tables without a schema version are someone else's: growthloop neither reads them nor adds its own."""
        if self.current_revision() is None and inspect(self.engine).get_table_names():
            raise StoreError(
                f"database {self.safe_url()}: it has tables but no growthloop schema version; "
                "not a growthloop database (give growthloop a new or empty database)"
            )

    def _check_file(self, create: bool) -> None:
        """A SQLite file is looked at before the first connection, which would write to it (create it, or make
        a database of an empty file): a mistyped --db must leave nothing behind."""
        path = self.sqlite_path()
        if path is not None:
            check_sqlite_file(path, self.safe_url(), create)

    def safe_url(self) -> str:
        """The URL without its password (I10)."""
        return self.engine.url.render_as_string(hide_password=True)

    # -- small key/value state --------------------------------------------------------------------
    def get_state(self, conn: Connection, account: str, key: str) -> Any:
        return self.run(conn, _GET_STATE, {"account": account, "key": key}).scalar()

    def set_state(self, conn: Connection, account: str, key: str, value: Any) -> None:
        self.run(conn, _SET_STATE[self.dialect], {"account": account, "key": key, "value": value})


# Built once: the loop reads and writes its state many times a simulated hour.
_GET_STATE = Prepared(
    select(app_state.c.value).where(app_state.c.account == bindparam("account"), app_state.c.key == bindparam("key"))
)


def _upsert_state(insert: Any) -> Prepared:
    stmt = insert(app_state).values(account=bindparam("account"), key=bindparam("key"), value=bindparam("value"))
    # the new value from the insert's row, so that it is encoded once (a model is hundreds of kilobytes)
    return Prepared(stmt.on_conflict_do_update(index_elements=["account", "key"], set_={"value": stmt.excluded.value}))


_SET_STATE = {"postgresql": _upsert_state(pg_insert), "sqlite": _upsert_state(sqlite_insert)}


__all__ = ["SqlStore", "make_engine", "metadata"]
