"""What the HTTP platforms (X, Mastodon, Bluesky) share at their edge: reading rate-limit headers, and waiting
out a spent window on the injected clock (or refusing to, when the reset is too far away)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from growthloop.errors import RateLimited
from growthloop.ports import Clock

log = structlog.get_logger("growthloop.platforms")


def header_int(value: Any) -> int | None:
    """A header's integer, or None when it is absent or unreadable (a header is the server's word, not ours)."""
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def header_epoch(value: Any) -> datetime | None:
    """A header's epoch seconds as an aware UTC time, or None when absent or unreadable."""
    seconds = header_int(value)
    try:
        return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
    except (OverflowError, OSError, ValueError):
        return None


def wait_out(clock: Clock, until: datetime | None, max_wait: timedelta, platform: str, endpoint: str) -> None:
    """Sleep on the clock until a spent window resets; beyond `max_wait` raise RateLimited, so the job ends
    and is retried after the reset instead of holding the account."""
    if until is None:
        return
    if until - clock.now() > max_wait:
        raise RateLimited(until, f"{platform} {endpoint}: the rate-limit window is spent")
    log.info(f"{platform}.rate_limit_waiting", endpoint=endpoint, until=until.isoformat())
    clock.sleep_until(until)
