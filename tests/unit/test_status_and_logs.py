"""status shows the pipeline at a glance; logs are structured, one event per job start and end (I10: no secrets)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import structlog

from growthloop.logging import configure_logging
from growthloop.status import pipeline_status
from tests.conftest import Loop


def test_status_counts_every_stage_and_shows_the_trend(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(30)
    data = pipeline_status(loop.store, "default", loop.clock.now())
    day = data["stages"]["24h"]
    assert 45 <= day["posted"] <= 48 and day["follower_snapshots"] == 96
    assert day["generated"] >= day["posted"] and day["metric_snapshots"] > day["posted"]
    assert data["stages"]["7d"]["follower_snapshots"] == 30 * 4 + 1
    assert data["followers"]["latest"] is not None and data["followers"]["change_7d"] is None  # no week yet
    assert {j["job"] for j in data["jobs"]} == {"followers", "metrics", "attribute", "learn", "plan", "replies", "post"}
    assert day["replied"] > 0
    assert all(j["last_status"] == "succeeded" for j in data["jobs"])
    top = data["top_values"]["topic"]
    assert len(top) == 2 and top[0]["posterior_mean"] >= top[1]["posterior_mean"]


def test_each_job_logs_its_start_and_end_with_counts_as_json(loop: Loop, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_output=True)
    try:
        loop.scheduler.tick()
    finally:
        configure_logging(quiet=True)
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    starts = [e["job"] for e in events if e["event"] == "job.start"]
    ends = {e["job"]: e for e in events if e["event"] == "job.end"}
    assert starts == ["followers", "metrics", "attribute", "learn", "plan", "replies", "post"]
    assert ends["plan"]["items_out"] == 4 and ends["plan"]["account"] == "default"
    assert all("timestamp" in e and "level" in e for e in events)


def test_secrets_never_reach_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_output=True)
    try:
        structlog.get_logger("t").info("connect", api_key="sk-live-123", access_token="tok-9", user="ana")
    finally:
        configure_logging(quiet=True)
    line = capsys.readouterr().err
    assert "sk-live-123" not in line and "tok-9" not in line
    assert json.loads(line)["api_key"] == "***" and json.loads(line)["user"] == "ana"
