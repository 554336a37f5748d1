"""Fixtures shared by every test tier: databases on SQLite and PostgreSQL, settings, a virtual clock.

The PostgreSQL leg needs a server at GROWTHLOOP_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres).
Off CI it is skipped, with the reason, when the server is unreachable; with CI=true it must run: an
unreachable server fails the test instead (`.ci/run` starts the server first).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from growthloop.adapters.store.store import SqlStore
from growthloop.config import Settings, load_settings
from tests.data_files import shared_dir as _shared_dir

PG_ADMIN_URL = os.environ.get("GROWTHLOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SHARED = _shared_dir()  # ../shared or $GROWTHLOOP_SHARED_DIR: only what tests/data cannot hold (tests/data_files.py)
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight UTC


def _pg_engine_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}".replace("postgresql://", "postgresql+psycopg://", 1)


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(_pg_engine_url(PG_ADMIN_URL.rsplit("/", 1)[1]))
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable", reported below
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def _create_database(conn: Any, name: str, template: str | None = None) -> None:
    """CREATE DATABASE for a test, with asynchronous commit: a commit returns before its WAL reaches the disk.
    What the tests kill is a client (kill -9 of a process, a worker, a broker), never the server, and a
    committed transaction survives its client's death whatever synchronous_commit says: only a crash of the
    server itself could lose the last ~0.2 s of commits. It saves a disk flush per commit (thousands in a
    simulated day), which is most of the PostgreSQL tests' wall time on this machine."""
    conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))


@pytest.fixture(scope="session")
def pg_server() -> str:
    problem = _pg_reachable()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL at {PG_ADMIN_URL} is unreachable: {problem}")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} unreachable ({problem}); it is required when CI=true")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"growthloop_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_engine_url(pg_server.rsplit("/", 1)[1]), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        _create_database(conn, name)
    try:
        yield _pg_engine_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'growthloop.db'}"
    return str(request.getfixturevalue("pg_url"))


# -- parallel runs (pytest-xdist: scripts/test runs `-n <cores + 1> --dist loadscope --no-loadscope-reorder`) ---------
# loadscope hands out whole modules: a module's module-scoped fixtures (a simulation, a browser, a server) are
# built once, on one worker. (xdist_group marks would be finer, but pytest-xdist 3.8 cannot group under pytest 9.2:
# it renames `item._nodeid`, which pytest no longer reads.)


# The modules that take longest, longest first (seconds of wall time in a 3-worker run on 2 cores, 2026-12-07):
# handing them out first is the longest-processing-time rule, which keeps any one of them from running alone at
# the end. A module missing here (new, or renamed) only loses its place in the order.
LONGEST_MODULES = {
    "tests/distributed/test_worker_kills.py": 119,
    "tests/e2e/test_one_process_per_account.py": 71,
    "tests/distributed/test_broker_outage.py": 62,
    "tests/distributed/test_workers_e2e.py": 52,
    "tests/unit/test_spend.py": 40,
    "tests/e2e/test_kill_resume.py": 38,
    "tests/e2e/test_bad_input.py": 35,
    "tests/web/test_browser.py": 30,
    "tests/contract/test_bluesky_contract.py": 22,
    "tests/contract/test_store_port.py": 21,
    "tests/integration/test_loop.py": 20,
    "tests/distributed/test_bench_workers.py": 17,
    "tests/distributed/test_bad_input.py": 17,
    "tests/unit/test_learning_drift.py": 16,
    "tests/integration/test_accounts.py": 16,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Modules are handed out in the order of their first test: the longest modules first (LONGEST_MODULES),
        # then the others holding long tests (marked slow), then the rest in their usual order. Every worker
        # computes the same order; the tests of a module keep theirs (the sort is stable).
        slow = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow") is not None}

        def place(item: pytest.Item) -> tuple[float, bool]:
            module = item.nodeid.split("::", 1)[0]
            return -LONGEST_MODULES.get(module, 0), module not in slow

        items.sort(key=place)


TERMINAL_VARS = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(pytest-xdist, in the main process) Tell each worker the terminal variables this process has."""
    node.workerinput["terminal_vars"] = {name: os.environ.get(name) for name in TERMINAL_VARS}


def pytest_configure(config: pytest.Config) -> None:
    """In an xdist worker, the terminal variables are put back as in the main process: the worker's readline
    exports COLUMNS=80 and LINES=24, and Rich's console, made at import, would then keep 80 columns whatever
    COLUMNS a test gives the command it invokes (the one failure of an earlier `-n 2` attempt)."""
    given = getattr(config, "workerinput", {}).get("terminal_vars")
    for name, value in (given or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """`name`, a file that `build(path)` writes, made once per test run and only read afterwards: under
    pytest-xdist the first worker to ask builds it, under a lock, in the folder all the workers share (the
    others wait, then read the same file); without xdist, once per session as before."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's basetemp is a folder of the run's
    shared = root / "built-once"
    shared.mkdir(exist_ok=True)
    done = shared / name
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not done.is_dir():
            part = shared / f"{name}.part"
            shutil.rmtree(part, ignore_errors=True)
            part.mkdir()
            build(part / "db.sqlite")
            part.rename(done)  # the folder, with a -wal file if the build left one
    return done / "db.sqlite"


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database migrated to the head revision once per run (about 0.3 s of Alembic),
    copied by every test that wants an empty store: the copy's own `upgrade()` then finds nothing to do."""

    def build(path: Path) -> None:
        template = SqlStore(f"sqlite:///{path}")
        template.upgrade()
        template.dispose()  # the last close checkpoints the WAL into the file

    return built_once(tmp_path_factory, "migrated", build)


@pytest.fixture
def store(db_url: str, request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    s = SqlStore(db_url)
    target = s.sqlite_path()
    if target is not None and not target.exists():
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), target)
    s.upgrade()  # on PostgreSQL the whole migration; on a copied SQLite file a check that it is at head
    yield s
    s.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(None, database_url=db_url, seed=7)


@pytest.fixture
def shared_dir() -> Path:
    return SHARED


class Loop:
    """A simulated account wired like `growthloop simulate` does, on a virtual clock, for stepping by hand."""

    def __init__(
        self, store: SqlStore, settings: Settings, world_text: str | None = None, now: datetime | None = None
    ) -> None:
        from growthloop.adapters.platforms.sim.world import default_world_path, parse_world
        from growthloop.bootstrap import ensure_account, wire_simulation
        from growthloop.jobs.scheduler import Scheduler

        text = world_text if world_text is not None else default_world_path().read_text()
        self.world = parse_world(text, "test-world")
        self.store, self.settings = store, settings
        ensure_account(store, settings, START)
        self.wiring, self.platform, self.clock = wire_simulation(settings, store, self.world, START, now)
        self.scheduler = Scheduler(self.wiring)
        self.scheduler.sync_schedule(START)

    def run(self, job: str) -> object:
        from growthloop.jobs.registry import JOBS

        w = self.wiring
        return JOBS[job](w.store, w.platform, w.generator, w.clock, w.account, w.settings, w.records)

    def run_for(self, hours: float) -> None:
        from datetime import timedelta

        self.scheduler.run_until(self.clock.now() + timedelta(hours=hours))


@pytest.fixture
def loop(store: SqlStore, settings: Settings) -> Iterator[Loop]:
    lp = Loop(store, settings)
    yield lp
    lp.scheduler.close()


@pytest.fixture(scope="session")
def simulated_histories(tmp_path_factory: pytest.TempPathFactory) -> Callable[[float], Path]:
    """`hours` of the default world (seed 7) on SQLite, simulated once per test run (`built_once`): tests that
    start from such a history copy it (`simulated`) instead of simulating it again."""
    made: dict[float, Path] = {}

    def build(hours: float, path: Path) -> None:
        url = f"sqlite:///{path}"
        store = SqlStore(url)
        store.upgrade()
        loop = Loop(store, load_settings(None, database_url=url, seed=7))
        loop.run_for(hours)
        loop.scheduler.close()
        store.dispose()  # the last connection's close checkpoints the WAL into the file

    def history(hours: float) -> Path:
        if hours not in made:
            made[hours] = built_once(tmp_path_factory, f"simulated-{hours:g}h", partial(build, hours))
        return made[hours]

    return history


@pytest.fixture
def simulated(simulated_histories: Callable[[float], Path], tmp_path: Path) -> Iterator[Callable[[float], Loop]]:
    """A copy of `hours` of simulated history, for this test alone, with its loop ready to go on."""
    opened: list[Loop] = []

    def copy(hours: float) -> Loop:
        path = tmp_path / f"history-{hours:g}h.db"
        master = simulated_histories(hours)
        shutil.copyfile(master, path)
        if master.with_name(master.name + "-wal").exists():
            shutil.copyfile(master.with_name(master.name + "-wal"), path.with_name(path.name + "-wal"))
        url = f"sqlite:///{path}"
        store = SqlStore(url)
        opened.append(Loop(store, load_settings(None, database_url=url, seed=7), now=START + timedelta(hours=hours)))
        return opened[-1]

    yield copy
    for loop in opened:
        loop.scheduler.close()
        loop.store.dispose()


@pytest.fixture(scope="session")
def simulated_pg_histories(pg_server: str) -> Iterator[Callable[[float], str]]:
    """`hours` of the default world (seed 7) on PostgreSQL, simulated once per session into a database that
    serves as the template of each test's copy (`simulated_pg`); dropped at the end of the session."""
    made: dict[float, str] = {}
    admin = create_engine(_pg_engine_url(pg_server.rsplit("/", 1)[1]), isolation_level="AUTOCOMMIT")

    def history(hours: float) -> str:
        if hours not in made:
            name = f"growthloop_history_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                _create_database(conn, name)
            made[hours] = name
            url = _pg_engine_url(name)
            store = SqlStore(url)
            store.upgrade()
            loop = Loop(store, load_settings(None, database_url=url, seed=7))
            loop.run_for(hours)
            loop.scheduler.close()
            store.dispose()  # a template database must have no connection when it is copied
        return made[hours]

    yield history
    with admin.connect() as conn:
        for name in made.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def simulated_pg(simulated_pg_histories: Callable[[float], str], pg_server: str) -> Iterator[Callable[[float], Loop]]:
    """A copy (CREATE DATABASE ... TEMPLATE) of `hours` of simulated history on PostgreSQL, for this test alone."""
    opened: list[tuple[Loop, str]] = []
    admin = create_engine(_pg_engine_url(pg_server.rsplit("/", 1)[1]), isolation_level="AUTOCOMMIT")

    def copy(hours: float) -> Loop:
        master = simulated_pg_histories(hours)
        name = f"growthloop_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            _create_database(conn, name, template=master)
        url = _pg_engine_url(name)
        loop = Loop(SqlStore(url), load_settings(None, database_url=url, seed=7), now=START + timedelta(hours=hours))
        opened.append((loop, name))
        return loop

    yield copy
    for loop, name in opened:
        loop.scheduler.close()
        loop.store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs() -> None:
    from growthloop.logging import configure_logging

    configure_logging(quiet=True)
