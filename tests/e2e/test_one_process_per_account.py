"""Two processes started together on one account: one runs it, the other is refused in one line naming the
holder (or, with --wait, waits for it), and nothing is recorded wrongly.

Each round copies a database that holds a simulation planned for six hours and barely begun, and starts
two `growthloop simulate --resume` on it at once. Before the lease, both ran: each reconciled the
other's post in flight as lost and requeued it, so live posts were recorded as failed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from growthloop.adapters.store.tables import account_leases, app_state, content_metadata, post_attempts, sim_posts

from .conftest import (
    ACCOUNT,
    POSTS_PER_HOUR,
    SIM_START,
    copy_db,
    describe,
    init_db,
    max_in_closed_hour,
    popen_cli,
    run_cli,
    sqlite_engine,
)

pytestmark = pytest.mark.slow
HOURS = 6  # each round's simulation: long enough that the two processes overlap, short enough to repeat

REFUSAL = re.compile(
    r"error: account 'default' is held by another process \(host \S+, pid (\d+), "
    r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); stop it, or pass --wait SECONDS\n"
)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding a six-hour simulation that has run its first quarter hour."""
    d = tmp_path_factory.mktemp("lease")
    db = init_db(d / "planned.db", d)
    proc = run_cli(["simulate", "--days", "0.01", "--start", SIM_START, "--json", "--db", db], d)
    assert proc.returncode == 0, describe(proc)
    engine = sqlite_engine(db)
    end = datetime.fromisoformat(SIM_START) + timedelta(hours=HOURS)
    with engine.begin() as conn:
        conn.execute(
            update(app_state)
            .where(app_state.c.account == ACCOUNT, app_state.c.key == "sim_end")
            .values(value=end.isoformat())
        )
    engine.dispose()
    return db


def _start_together(args: list[str], cwd: Path, n: int = 2) -> list[tuple[int, int, str]]:
    """Start n processes at once; each one's pid, exit status and stderr."""
    procs = [popen_cli(args, cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(n)]
    out = []
    for p in procs:
        _, err = p.communicate(timeout=180)
        out.append((p.pid, p.returncode, err.decode(errors="replace")))
    return out


def _recorded_wrongly(db: Path) -> list[str]:
    """Every way a post can be recorded wrongly: what the platform has must be posted, once, with its id."""
    engine = sqlite_engine(db)
    cm = content_metadata
    try:
        with engine.connect() as conn:
            published = conn.execute(select(sim_posts.c.request_key, sim_posts.c.platform_id)).all()
            rows = {r.decision_id: r for r in conn.execute(select(cm.c.decision_id, cm.c.status, cm.c.tweet_id))}
            starts = [a.started_at for a in conn.execute(select(post_attempts).where(post_attempts.c.kind == "post"))]
    finally:
        engine.dispose()
    keys = [p.request_key for p in published]
    wrong = [f"published twice: {k}" for k in sorted({k for k in keys if keys.count(k) > 1})]
    wrong += [
        f"on the platform but {rows[p.request_key].status}: {p.request_key}"
        for p in published
        if rows[p.request_key].status != "posted" or rows[p.request_key].tweet_id != p.platform_id
    ]
    wrong += [f"posted but not on the platform: {d}" for d, r in rows.items() if r.status == "posted" and d not in keys]
    if max_in_closed_hour(starts) > POSTS_PER_HOUR:
        wrong.append(f"{max_in_closed_hour(starts)} post attempts in one hour")
    return wrong


@pytest.mark.parametrize("rounds", [20])
def test_two_processes_on_one_account_one_runs_the_other_is_refused(planned: Path, tmp_path: Path, rounds: int) -> None:
    """A start-up slower than the other's whole run (a busy machine) makes a round sequential: both
    succeed, one after the other. That round is checked too but not counted, and another is started."""
    refusals, sequential, published = 0, 0, 0
    while refusals < rounds:
        assert sequential <= rounds, f"{sequential} rounds did not overlap: the runs are too short to race"
        n = refusals + sequential
        db = copy_db(planned, tmp_path / f"round-{n}.db")
        outcomes = _start_together(["simulate", "--resume", "--json", "--db", db], tmp_path)
        wrong = _recorded_wrongly(db)
        assert not wrong, f"round {n}: {wrong}"
        statuses = sorted(code for _, code, _ in outcomes)
        if statuses == [0, 0]:
            sequential += 1
            continue
        assert statuses == [0, 2], f"round {n}: exits {statuses}: {[err[-600:] for _, _, err in outcomes]}"
        winner = next(pid for pid, code, _ in outcomes if code == 0)
        refusal = next(err for _, code, err in outcomes if code == 2)
        match = REFUSAL.fullmatch(refusal)
        assert match, f"round {n}: the refusal is not one line naming the holder: {refusal!r}"
        assert int(match.group(1)) == winner, f"round {n}: the refusal names pid {match.group(1)}, not {winner}"
        refusals += 1
        engine = sqlite_engine(db)
        with engine.connect() as conn:
            published += len(conn.execute(select(sim_posts.c.id)).all())
            assert conn.execute(select(account_leases)).first() is None  # the winner released it
        engine.dispose()
    print(
        f"\n{refusals + sequential} rounds: {refusals} refused naming the holder, {sequential} did not overlap, "
        f"{published} posts in the refused rounds, 0 recorded wrongly"
    )
    assert published >= rounds * HOURS  # each round posted: it was not an empty run


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.05)


def test_a_second_daemon_is_refused_and_wait_waits_for_the_first_then_runs(tmp_path: Path) -> None:
    db = init_db(tmp_path / "live.db", tmp_path)
    daemon = popen_cli(["run", "--db", db], tmp_path, subprocess.DEVNULL, subprocess.DEVNULL)
    engine = sqlite_engine(db)
    patient_err = tmp_path / "patient.err"
    patient: subprocess.Popen[bytes] | None = None
    try:

        def lease_pid() -> int | None:
            with engine.connect() as conn:
                return conn.execute(select(account_leases.c.pid)).scalar()

        _wait_for(lambda: lease_pid() == daemon.pid, "lease taken by the daemon")
        second = run_cli(["run", "--db", db], tmp_path)
        impatient = run_cli(["jobs", "run", "post", "--wait", "0.2", "--db", db], tmp_path)
        with open(patient_err, "wb") as err:
            patient = popen_cli(["jobs", "run", "post", "--wait", "120", "--json", "--db", db], tmp_path, None, err)
            _wait_for(lambda: "waiting up to 120 s" in patient_err.read_text(), "waiting patient")
            assert patient.poll() is None  # still waiting while the daemon holds the lease
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0
            _wait_for(lambda: patient.poll() is not None, "patient run")
    finally:
        for proc in (daemon, patient):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        engine.dispose()
    assert second.returncode == 2, describe(second)
    match = REFUSAL.fullmatch(second.stderr)
    assert match and int(match.group(1)) == daemon.pid, describe(second)
    assert impatient.returncode == 2, describe(impatient)
    assert re.fullmatch(
        rf"error: account 'default' is still held after waiting 0.2 s \(host \S+, pid {daemon.pid}, since [^)]+\); "
        r"stop that process, or wait longer with --wait SECONDS\n",
        impatient.stderr.splitlines(keepends=True)[-1],
    ), describe(impatient)
    assert patient.returncode == 0, patient_err.read_text()
    assert f"pid {daemon.pid}" in patient_err.read_text()
    assert not _recorded_wrongly(db)
