"""The Prometheus endpoint, scraped over HTTP after a short simulated run."""

from __future__ import annotations

import urllib.request
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, job_runs
from growthloop.audit.doctor import run_doctor
from growthloop.audit.metrics import LoopMetrics
from growthloop.jobs.registry import JOBS


def _scrape(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        body = response.read().decode("utf-8")
    return {family.name: family for family in text_string_to_metric_families(body)}


def _value(family: Any, **labels: str) -> float:
    matches = [s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (family.name, labels, family.samples)
    return float(matches[0])


def test_endpoint_exposes_the_loop_from_the_database(loop: Any) -> None:
    loop.run_for(3)
    store: SqlStore = loop.store
    checks = run_doctor(store, loop.settings, "default", loop.clock.now())
    metrics = LoopMetrics()
    metrics.update(store, "default", checks)
    server, thread = metrics.serve(0)
    try:
        assert server.server_address[0] == "127.0.0.1"
        families = _scrape(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert not thread.is_alive()

    with store.connect() as conn:
        followers_runs = conn.execute(
            select(func.count())
            .select_from(job_runs)
            .where(job_runs.c.account == "default", job_runs.c.job == "followers")
        ).scalar_one()
        newest_followers = conn.execute(
            select(follower_snapshots.c.followers)
            .where(follower_snapshots.c.account == "default")
            .order_by(follower_snapshots.c.observed_at.desc())
            .limit(1)
        ).scalar_one()
        queued = conn.execute(
            select(func.count())
            .select_from(content_metadata)
            .where(content_metadata.c.account == "default", content_metadata.c.status == "queued")
        ).scalar_one()
        posted = conn.execute(
            select(func.count())
            .select_from(content_metadata)
            .where(content_metadata.c.account == "default", content_metadata.c.status == "posted")
        ).scalar_one()
        running = conn.execute(
            select(func.count()).select_from(job_runs).where(job_runs.c.status == "running")
        ).scalar_one()
    assert running == 0 and followers_runs > 0 and queued > 0 and posted > 0

    runs = families["growthloop_job_runs"]
    assert runs.type == "counter"
    assert {s.name for s in runs.samples} == {"growthloop_job_runs_total"}
    assert all(s.labels["account"] == "default" for s in runs.samples)
    assert _value(runs, job="followers", status="succeeded") == followers_runs
    assert sum(s.value for s in runs.samples if s.labels["job"] == "followers") == followers_runs
    assert {s.labels["job"] for s in runs.samples} == set(JOBS)

    last = families["growthloop_job_last_success_timestamp_seconds"]
    assert last.type == "gauge"
    now = loop.clock.now().timestamp()
    for job in JOBS:
        assert now - 3 * 3600 <= _value(last, account="default", job=job) <= now

    posts = families["growthloop_posts"]
    assert posts.type == "gauge"
    assert _value(posts, account="default", status="queued") == queued
    assert _value(posts, account="default", status="posted") == posted
    assert _value(posts, account="default", status="failed") == 0

    assert families["growthloop_followers"].type == "gauge"
    assert _value(families["growthloop_followers"], account="default") == newest_followers
    assert families["growthloop_queue_depth"].type == "gauge"
    assert _value(families["growthloop_queue_depth"], account="default") == queued

    doctor = families["growthloop_doctor_checks"]
    assert doctor.type == "gauge"
    assert sum(s.value for s in doctor.samples) == len(checks)
    assert _value(doctor, state="fail") == sum(c.state == "fail" for c in checks)
    assert {s.labels["state"] for s in doctor.samples} >= {"pass", "warn", "fail", "skip"}


def test_metrics_keep_totals_across_a_restart_and_invent_nothing(store: SqlStore, loop: Any) -> None:
    registry = CollectorRegistry()
    empty = LoopMetrics(registry)
    empty.update(store, "nobody", None)
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["growthloop_followers"].samples == []  # no snapshot: no made-up value
    assert families["growthloop_doctor_checks"].samples == []  # no doctor run yet
    assert families["growthloop_job_runs"].samples == []
    assert _value(families["growthloop_queue_depth"], account="nobody") == 0

    loop.run_for(1)
    first = LoopMetrics()
    first.update(store, "default", [])
    second = LoopMetrics()  # a restarted process: totals come from the database, not memory
    second.update(store, "default", None)
    a = {f.name: f for f in text_string_to_metric_families(generate_latest(first.registry).decode())}
    b = {f.name: f for f in text_string_to_metric_families(generate_latest(second.registry).decode())}
    assert a["growthloop_job_runs"].samples == b["growthloop_job_runs"].samples != []
    assert _value(a["growthloop_doctor_checks"], state="pass") == 0
    assert b["growthloop_doctor_checks"].samples == []

    # update(..., None) keeps the doctor figures of the previous update.
    second.update(store, "default", [])
    second.update(store, "default", None)
    b = {f.name: f for f in text_string_to_metric_families(generate_latest(second.registry).decode())}
    assert sum(s.value for s in b["growthloop_doctor_checks"].samples) == 0
    assert len(b["growthloop_doctor_checks"].samples) == 4


def test_registries_are_separate_from_the_global_one() -> None:
    from prometheus_client import REGISTRY

    metrics = LoopMetrics()
    assert metrics.registry is not REGISTRY
    assert "growthloop_queue_depth" not in generate_latest(REGISTRY).decode()
