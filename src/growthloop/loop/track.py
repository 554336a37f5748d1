"""Stage 6, track followers: a follower-count snapshot on every run."""

from __future__ import annotations

from growthloop.config import Settings
from growthloop.domain import JobResult
from growthloop.ports import Clock, Generator, Platform, Records, Store


def snapshot_followers(
    store: Store,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    records: Records,
) -> JobResult:
    """Record the account's follower count as the platform reports it now."""
    now = clock.now()
    count = platform.follower_count(now)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"platform {platform.name} returned an invalid follower count {count!r}")
    with store.begin() as conn:
        records.measure.add_followers(conn, account, now, count, platform.name)
    return JobResult(items_in=1, items_out=1)
