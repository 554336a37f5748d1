"""The broker goes away for 30 s and comes back: the workers, the real-time dispatcher and a multi-account
simulation's coordinator carry on by themselves, and doctor names the outage while it lasts.

The outage is a dead port: every process reaches RabbitMQ through a TCP relay that the test closes (dropping
every connection) and reopens on the same port, so the machine's RabbitMQ, shared with other work, stays up.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, update

from growthloop.adapters.store.tables import job_runs, job_schedule

from ..e2e.conftest import cli_env, growthloop_cmd, run_cli
from .conftest import check_invariants, engine_for, simulate_args

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
OUTAGE_S = 30.0


class Relay:
    """127.0.0.1:port -> the broker, until stopped (every connection dropped), then again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _count(db: str, *where: Any) -> int:
    engine = engine_for(db)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(job_runs).where(*where)).scalar_one())
    finally:
        engine.dispose()


def _wait(what: str, ok: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_30_s_broker_outage_is_waited_out_and_named(
    tmp_path: Any, pg: str, rabbitmq: str, workers_factory: Any
) -> None:
    from growthloop.accounts import add_account
    from growthloop.adapters.store.store import SqlStore

    parts = urlsplit(rabbitmq)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5672))
    relay.start()
    broker = rabbitmq.replace(f":{parts.port or 5672}/", f":{relay.port}/", 1)
    store = SqlStore(pg)
    add_account(store, "live1", "sim", None, None, datetime.now(UTC))  # a real-time account, for the dispatcher
    store.dispose()
    workers = workers_factory(pg, broker)
    [worker] = workers.start(1)
    workers.ready(1)
    env = cli_env()
    said, sim_err = tmp_path / "dispatch.err", tmp_path / "sim.err"
    dispatcher = subprocess.Popen(
        [*growthloop_cmd(), "dispatch", "--db", pg, "--broker", broker, "--every", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(said, "wb"),  # noqa: SIM115 - the process writes to it
        stdin=subprocess.DEVNULL,
    )
    sim = subprocess.Popen(
        [*growthloop_cmd(), *simulate_args(pg, broker, 2, 0.5)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(sim_err, "wb"),  # noqa: SIM115
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        _wait("the live account's first runs", lambda: _count(pg, job_runs.c.account == "live1") > 0, 120)
        _wait("the simulation at work", lambda: _count(pg, job_runs.c.account.like("sim%")) > 30, 120)
        relay.stop()
        outage_began = time.monotonic()
        time.sleep(5)
        frozen = _count(pg)
        # A slot falls due during the outage: the dispatcher must publish it once the broker is back.
        due = datetime.now(UTC)
        engine = engine_for(pg)
        with engine.begin() as conn:
            conn.execute(
                update(job_schedule)
                .where(job_schedule.c.account == "live1", job_schedule.c.job == "metrics")
                .values(next_due=due)
            )
        engine.dispose()
        doctor = run_cli(
            ["doctor", "--db", pg, "--account", "sim001", "--json"], tmp_path, env={"GROWTHLOOP_BROKER_URL": broker}
        )
        assert doctor.returncode == 1, doctor.stdout[-2000:] + doctor.stderr[-2000:]  # a failing check
        checks = {c["name"]: c for c in json.loads(doctor.stdout)["accounts"]["sim001"]["checks"]}
        assert "broker" in checks, doctor.stdout[-2000:]
        assert checks["broker"]["state"] == "fail" and "unreachable" in checks["broker"]["measured"]
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_began)))
        assert _count(pg) == frozen, "runs were recorded while the broker was away"
        relay.start()
        sim.wait(timeout=600)
        assert sim.returncode == 0, sim_err.read_text(errors="replace")[-3000:] + workers.log_tail()
        _wait(
            "the slot that fell due during the outage",
            lambda: (
                _count(pg, job_runs.c.account == "live1", job_runs.c.job == "metrics", job_runs.c.scheduled_for == due)
                == 1
            ),
            120,
        )
        assert worker.poll() is None and dispatcher.poll() is None, "a process ended instead of waiting"
        check_invariants(pg, ["sim001", "sim002"])
        doctor = run_cli(
            ["doctor", "--db", pg, "--account", "sim001", "--json"], tmp_path, env={"GROWTHLOOP_BROKER_URL": broker}
        )
        after = {c["name"]: c for c in json.loads(doctor.stdout)["accounts"]["sim001"]["checks"]}
        assert after["broker"]["state"] == "pass"
    finally:
        for p in (sim, dispatcher):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        relay.stop()
    text = said.read_text(errors="replace")
    assert "the broker is unreachable" in text and "the broker is back" in text, text[-2000:]
