"""`growthloop run`: the daemon starts with its banner (I6), runs the due jobs, and stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

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
        while time.monotonic() < deadline and runs < 6:
            time.sleep(0.3)
            with engine.connect() as conn:
                runs = conn.execute(text("SELECT COUNT(*) FROM job_runs WHERE status = 'succeeded'")).scalar_one()
        assert runs == 6, "each of the six jobs is due at start"
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
    subprocess.run([GROWTHLOOP, "init", "--db", str(db)], check=True, capture_output=True)
    subprocess.run(
        [GROWTHLOOP, "simulate", "--days", "0.1", "--db", str(db), "--json"], check=True, capture_output=True
    )
    done = subprocess.run([GROWTHLOOP, "run", "--db", str(db)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "holds a simulation" in done.stderr and "--resume" in done.stderr
