"""Prometheus metrics of the loop, read from the database (not counted in memory).

Every figure comes from the tables, so a restarted process exposes the same totals, and several
processes reading one database agree. `LoopMetrics.update` refreshes a snapshot with a few grouped
queries; a scrape only renders the last snapshot (no database access on the HTTP thread).

Metrics (every one labelled with `account`):

- ``growthloop_job_runs_total{job,status}`` (counter): finished runs in job_runs by job and status
  (succeeded | failed | timed_out; a run still "running" is counted once it finishes, so each series
  only grows).
- ``growthloop_job_last_success_timestamp_seconds{job}`` (gauge): when the job's newest successful run
  finished (Unix seconds, the database's clock: virtual time in a simulation).
- ``growthloop_posts{status}`` (gauge): content_metadata rows by status (every known status, 0 if none).
- ``growthloop_followers`` (gauge): the newest follower snapshot; absent while there is none.
- ``growthloop_queue_depth`` (gauge): content_metadata rows in status queued.
- ``growthloop_doctor_checks{state}`` (gauge): doctor's checks per state (pass | warn | fail | skip) at
  the latest update that was given checks; absent until then.
- ``growthloop_account_paused`` (gauge): 1 while the account is paused (`growthloop accounts pause`), else 0.

One collector serves any number of accounts (audit/overview.py `refresh_metrics` updates every registered one).

The metrics live in their own `CollectorRegistry`, never the process-global one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, job_runs
from growthloop.audit.doctor import FAIL, PASS, SKIP, WARN, Check
from growthloop.domain import FAILED, POSTED, POSTING, QUEUED, SKIPPED
from growthloop.jobs.pause import account_pause

POST_STATUSES = (QUEUED, POSTING, POSTED, FAILED, SKIPPED)
CHECK_STATES = (PASS, WARN, FAIL, SKIP)
SUCCEEDED, RUNNING = "succeeded", "running"


@dataclass
class _Snapshot:
    runs: dict[tuple[str, str], int] = field(default_factory=dict)
    last_success: dict[str, float] = field(default_factory=dict)
    posts: dict[str, int] = field(default_factory=dict)
    followers: int | None = None
    queue_depth: int = 0
    doctor: dict[str, int] | None = None
    paused: bool = False


class LoopMetrics:
    """A Prometheus collector over the loop's tables, registered in its own registry.

    `update(store, account, checks)` refreshes one account's figures; `serve(port)` exposes
    `registry` over HTTP.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._lock = threading.Lock()
        self._accounts: dict[str, _Snapshot] = {}
        self.registry.register(self)

    # -- reading the database ---------------------------------------------------------------------
    def update(self, store: SqlStore, account: str, checks: list[Check] | None) -> None:
        """Refresh `account`'s figures from the database (four grouped queries).

        `checks` are the latest doctor run's; None keeps the doctor figures of the previous update.
        """
        jr, cm, fs = job_runs, content_metadata, follower_snapshots
        with store.connect() as conn:
            runs = {
                (str(job), str(status)): int(n)
                for job, status, n in conn.execute(
                    select(jr.c.job, jr.c.status, func.count())
                    .where(jr.c.account == account, jr.c.status != RUNNING)
                    .group_by(jr.c.job, jr.c.status)
                )
            }
            last_success = {
                str(job): at.timestamp()
                for job, at in conn.execute(
                    select(jr.c.job, func.max(func.coalesce(jr.c.finished_at, jr.c.started_at)))
                    .where(jr.c.account == account, jr.c.status == SUCCEEDED)
                    .group_by(jr.c.job)
                )
                if at is not None
            }
            posts: dict[str, int] = dict.fromkeys(POST_STATUSES, 0)
            for status, n in conn.execute(
                select(cm.c.status, func.count()).where(cm.c.account == account).group_by(cm.c.status)
            ):
                posts[str(status)] = int(n)
            followers = conn.execute(
                select(fs.c.followers)
                .where(fs.c.account == account)
                .order_by(fs.c.observed_at.desc(), fs.c.id.desc())
                .limit(1)
            ).scalar()
            paused = account_pause(conn, account) is not None
        doctor: dict[str, int] | None = None
        if checks is not None:
            doctor = dict.fromkeys(CHECK_STATES, 0)
            for check in checks:
                doctor[check.state] = doctor.get(check.state, 0) + 1
        with self._lock:
            previous = self._accounts.get(account)
            self._accounts[account] = _Snapshot(
                runs=runs,
                last_success=last_success,
                posts=posts,
                followers=None if followers is None else int(followers),
                queue_depth=posts.get(QUEUED, 0),
                doctor=doctor if doctor is not None else (previous.doctor if previous else None),
                paused=paused,
            )

    def keep_only(self, accounts: Iterable[str]) -> None:
        """Drop the series of accounts no longer listed (removed)."""
        keep = set(accounts)
        with self._lock:
            self._accounts = {name: snap for name, snap in self._accounts.items() if name in keep}

    # -- the Collector protocol ------------------------------------------------------------------------
    def describe(self) -> Iterable[Metric]:
        """The families this collector exposes (lets the registry refuse a clashing collector)."""
        return list(self._families({}))

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            accounts = dict(self._accounts)
        return list(self._families(accounts))

    @staticmethod
    def _families(accounts: dict[str, _Snapshot]) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "growthloop_job_runs", "Finished job runs by job and status.", labels=["account", "job", "status"]
        )
        last = GaugeMetricFamily(
            "growthloop_job_last_success_timestamp_seconds",
            "When the job's newest successful run finished, in Unix seconds.",
            labels=["account", "job"],
        )
        posts = GaugeMetricFamily("growthloop_posts", "Content rows by status.", labels=["account", "status"])
        followers = GaugeMetricFamily(
            "growthloop_followers", "Followers at the newest follower snapshot.", labels=["account"]
        )
        queue = GaugeMetricFamily("growthloop_queue_depth", "Content rows waiting in the queue.", labels=["account"])
        doctor = GaugeMetricFamily(
            "growthloop_doctor_checks", "Checks per state at the latest doctor run.", labels=["account", "state"]
        )
        paused = GaugeMetricFamily("growthloop_account_paused", "1 while the account is paused.", labels=["account"])
        for account, snap in sorted(accounts.items()):
            paused.add_metric([account], 1 if snap.paused else 0)
            for (job, status), n in sorted(snap.runs.items()):
                runs.add_metric([account, job, status], n)
            for job, ts in sorted(snap.last_success.items()):
                last.add_metric([account, job], ts)
            for status, n in sorted(snap.posts.items()):
                posts.add_metric([account, status], n)
            if snap.followers is not None:
                followers.add_metric([account], snap.followers)
            queue.add_metric([account], snap.queue_depth)
            for state, n in sorted((snap.doctor or {}).items()):
                doctor.add_metric([account, state], n)
        yield from (runs, last, posts, followers, queue, doctor, paused)

    # -- the endpoint ----------------------------------------------------------------------------------
    def serve(self, port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
        """Serve /metrics from this registry on a daemon thread; port 0 picks a free port.

        Returns prometheus_client's (server, thread): the port is `server.server_port`; stop it with
        `server.shutdown(); server.server_close(); thread.join()`.
        """
        server, thread = start_http_server(port, addr, registry=self.registry)
        return server, thread


__all__ = ["LoopMetrics"]
