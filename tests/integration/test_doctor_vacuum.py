"""doctor's `database.vacuum` check: on PostgreSQL it warns, naming the table and the counts, once a table of
growthloop's holds more dead rows than live ones (and at least `DEAD_ROWS_MIN`), and passes again once they are
vacuumed. Dead rows are what the ledger's and the leases' updates leave behind on a server whose autovacuum is
off (this project's CI servers), and every look-up walks them."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, delete, func, insert, select, text

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import job_runs
from growthloop.audit.doctor import DEAD_ROWS_MIN, PASS, WARN, Check, run_doctor
from growthloop.bootstrap import ensure_account
from growthloop.config import load_settings
from tests.conftest import START


def _vacuum_check(store: SqlStore, url: str) -> Check | None:
    checks = run_doctor(store, load_settings(None, database_url=url), "default", START + timedelta(days=1))
    return next((c for c in checks if c.name == "database.vacuum"), None)


def _until(store: SqlStore, url: str, state: str, within_s: float = 10.0) -> Check:
    """The check once it reads `state`: the server's statistics reach other sessions within a second or so."""
    deadline = time.monotonic() + within_s
    while True:
        check = _vacuum_check(store, url)
        assert check is not None
        if check.state == state or time.monotonic() > deadline:
            return check
        time.sleep(0.2)


@pytest.mark.postgres
def test_dead_rows_piled_in_a_table_are_named_then_cleared_by_vacuum(pg_url: str) -> None:
    store = SqlStore(pg_url)
    store.upgrade()
    settings = load_settings(None, database_url=pg_url)
    ensure_account(store, settings, START)
    n = DEAD_ROWS_MIN + 2_000
    try:
        with store.begin() as conn:
            # a server with autovacuum on must not clean the table before doctor looks
            conn.execute(text("ALTER TABLE job_runs SET (autovacuum_enabled = false)"))
            rows = [
                {
                    "account": "default",
                    "job": "metrics",
                    "scheduled_for": START + timedelta(minutes=i),
                    "started_at": START,
                    "status": "succeeded",
                    "attempt": 1,
                }
                for i in range(n)
            ]
            conn.execute(insert(job_runs), rows)
        with store.begin() as conn:
            conn.execute(delete(job_runs).where(job_runs.c.scheduled_for >= START + timedelta(minutes=100)))
            conn.execute(text("SELECT pg_stat_force_next_flush()"))

        piled = _until(store, pg_url, WARN)
        assert piled.state == WARN, piled
        assert "job_runs" in piled.measured and f"{n - 100:,}" in piled.measured, piled.measured
        assert "beside 100 live" in piled.measured, piled.measured
        assert piled.cause and "autovacuum" in piled.cause and piled.fix and "VACUUM" in piled.fix
        with store.connect() as conn:  # doctor only reads
            assert conn.execute(select(func.count()).select_from(job_runs)).scalar_one() == 100

        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text("VACUUM (ANALYZE) job_runs"))
        finally:
            admin.dispose()
        cleared = _until(store, pg_url, PASS)
        assert cleared.state == PASS, cleared
    finally:
        store.dispose()


def test_sqlite_has_no_vacuum_check(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/v.db"
    store = SqlStore(url)
    store.upgrade()
    try:
        ensure_account(store, load_settings(None, database_url=url), START)
        assert _vacuum_check(store, url) is None  # SQLite reuses the space of deleted rows
    finally:
        store.dispose()
