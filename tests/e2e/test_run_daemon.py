"""`growthloop run`: the daemon starts with its banner (I6), runs the due jobs, and stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from growthloop.jobs.registry import JOBS

from .conftest import describe, invoke_cli

GROWTHLOOP = str(Path(sys.executable).with_name("growthloop"))


def test_the_daemon_runs_every_due_job_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    subprocess.run([GROWTHLOOP, "init", "--db", str(db)], check=True, capture_output=True)
    proc = subprocess.Popen(
        [GROWTHLOOP, "run", "--db", str(db), "--log-json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    engine = create_engine(f"sqlite:///{db}")
    try:
        deadline = time.monotonic() + 30
        runs = 0
        while time.monotonic() < deadline and runs < len(JOBS):
            time.sleep(0.3)
            with engine.connect() as conn:
                runs = conn.execute(text("SELECT COUNT(*) FROM job_runs WHERE status = 'succeeded'")).scalar_one()
        assert runs == len(JOBS), "each job is due at start"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()
    assert proc.returncode == 0
    assert re.search(r"configuration [0-9a-f]{12}", out)
    for job, every in [("followers", "15m"), ("attribute", "2h"), ("post", "15m")]:
        assert re.search(rf"{job}\s+every\s+{every}\s+timeout\s+\S+\s+enabled", out), job
    assert "stopped" in out
    assert '"event": "job.end"' in err and '"job": "attribute"' in err  # structured, one event per run


def test_the_daemon_refuses_a_simulations_database(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    for args in (["init", "--db", db], ["simulate", "--days", "0.1", "--db", db, "--json"]):  # in this process
        made = invoke_cli(args, tmp_path)
        assert made.returncode == 0, describe(made)
    done = subprocess.run([GROWTHLOOP, "run", "--db", str(db)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "holds a simulation" in done.stderr and "--resume" in done.stderr


def test_the_daemon_serves_metrics_and_alerts_once_on_a_failing_check(tmp_path: Path) -> None:
    import json
    import os
    import socket
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "live.db"
    config = tmp_path / "growthloop.toml"
    config.write_text('[jobs.attribute]\nenabled = false\n[alerts]\ncheck_every = "1s"\n')
    subprocess.run([GROWTHLOOP, "init", "--db", str(db)], check=True, capture_output=True)
    env = {**os.environ, "GROWTHLOOP_ALERTS__WEBHOOK_URL": f"http://127.0.0.1:{hook.server_port}/hooks/SECRET-TOKEN"}
    proc = subprocess.Popen(
        [GROWTHLOOP, "run", "--db", str(db), "--config", str(config), "--metrics-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline, body = time.monotonic() + 30, ""
        while time.monotonic() < deadline and not (received and "growthloop_doctor_checks" in body):
            time.sleep(0.3)
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
        time.sleep(1.5)  # more doctor runs: the alert must not repeat
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        hook.shutdown()
    assert proc.returncode == 0, err
    alerts = [a for a in received if a["check"] == "job.attribute"]
    assert len(alerts) == 1 and alerts[0]["state"] == "fail" and "not scheduled" in str(alerts[0]["text"])
    assert 'growthloop_doctor_checks{account="default",state="fail"}' in body
    assert "growthloop_job_runs_total" in body and "growthloop_queue_depth" in body
    assert "SECRET-TOKEN" not in out + err  # I10: the webhook's token is never printed
