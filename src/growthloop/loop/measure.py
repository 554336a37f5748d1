"""Stage 5, measure: metric snapshots at checkpoints after posting (append-only, with source and time)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from functools import lru_cache

from growthloop.config import Settings, parse_duration
from growthloop.domain import METRIC_COUNTERS, JobResult, PostMetrics
from growthloop.ports import Clock, Generator, Platform, Records, Store

BATCH = 100  # ids per metrics call (X's limit)
_COUNTERS = tuple(f.name for f in fields(PostMetrics) if f.name in METRIC_COUNTERS)


@lru_cache(maxsize=16)
def _band_ages(checkpoints: tuple[str, ...], interval: int) -> list[tuple[str, timedelta, timedelta]]:
    """Each checkpoint's band of post ages (its name, the youngest and the oldest age), worked out once per
    setting: the metrics job asks every 15 minutes."""
    seconds = [parse_duration(c) for c in checkpoints]
    lookback = 4 * interval
    bands = []
    for i, (name, age) in enumerate(zip(checkpoints, seconds, strict=True)):
        upper = min(seconds[i + 1] if i + 1 < len(seconds) else age + 86400, age + lookback)
        bands.append((name, timedelta(seconds=age), timedelta(seconds=upper)))
    return bands


def due_checkpoints(
    store: Store, records: Records, account: str, settings: Settings, now: datetime
) -> dict[str, tuple[str, str]]:
    """decision_id -> (tweet_id, checkpoint) for posts whose latest passed checkpoint has no snapshot yet.

    A post is in checkpoint c's band from age c until the next checkpoint or until c plus four metrics
    intervals, whichever is sooner: the bands stay small, so each run looks at a handful of posts. A
    checkpoint missed for longer (downtime) stays visibly absent; an observation is recorded once, under
    the checkpoint it serves, never copied to the ones that were missed.
    """
    ages = _band_ages(tuple(settings.checkpoints), settings.jobs["metrics"].interval)
    bands = [(name, now - newest, now - oldest) for name, newest, oldest in ages]
    with store.connect() as conn:
        rows = records.measure.due(conn, account, bands)
        return {decision_id: (platform_id, checkpoint) for decision_id, platform_id, checkpoint in rows}


def collect_metrics(
    store: Store,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    records: Records,
) -> JobResult:
    """Take a metrics snapshot of every post that has passed a checkpoint since its last snapshot."""
    now = clock.now()
    due = due_checkpoints(store, records, account, settings, now)
    if not due:
        return JobResult(items_in=0, items_out=0)
    by_platform_id = {pid: (decision_id, checkpoint) for decision_id, (pid, checkpoint) in due.items()}
    ids = list(by_platform_id)
    rows = []
    for start in range(0, len(ids), BATCH):
        for m in platform.metrics(ids[start : start + BATCH], now):
            if m.platform_id not in by_platform_id:
                raise ValueError(
                    f"platform {platform.name} returned metrics for an id we did not ask for: {m.platform_id}"
                )
            decision_id, checkpoint = by_platform_id[m.platform_id]
            counters = {k: getattr(m, k) for k in _COUNTERS}  # as asdict's, without its deep copy
            rows.append(
                dict(
                    account=account,
                    decision_id=decision_id,
                    tweet_id=m.platform_id,  # the column's name since the seed's schema (docs/architecture.md)
                    checkpoint=checkpoint,
                    source=platform.name,
                    observed_at=now,
                    **counters,
                )
            )
    if rows:
        with store.begin() as conn:
            records.measure.add_metrics(conn, rows)
    missing = len(due) - len(rows)
    return JobResult(
        items_in=len(due),
        items_out=len(rows),
        idle_reason=f"platform returned no metrics for {missing} posts" if missing else None,
    )
