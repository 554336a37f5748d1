"""The HTTP edge of the Bluesky adapter: the write budget, rate-limit headers, and error translation.

Bluesky limits writes per account in points: 5,000 points an hour and 35,000 a day, where creating a
record costs 3, updating 2 and deleting 1 (the AT Protocol's documented PDS limits). `WriteBudget` keeps
that account locally, over rolling windows, so that the adapter stops before the server has to say so.
Every answer may carry `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` (epoch seconds) and
`ratelimit-policy`; a spent window, or a 429, becomes RateLimited(until the reset).

Translation from XRPC to growthloop's error tree (growthloop.errors):

    429                                    -> RateLimited(until)
    400 ExpiredToken                       -> refreshed by the platform, then retried once
    401, 400 InvalidToken, 403             -> AuthFailed      names the credential variables, never values
    5xx, 408, timeout, connection error,
    a body that is not a JSON object       -> PlatformUnavailable   for a write the outcome is unknown
    other 4xx on a write                   -> ContentRejected
    other 4xx on a read                    -> PlatformError
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from growthloop.adapters.platforms.bluesky.credentials import VARIABLES
from growthloop.adapters.platforms.headers import header_epoch, header_int
from growthloop.errors import AuthFailed, ContentRejected, PlatformError, PlatformUnavailable, RateLimited

# The documented write limits (points per rolling window) and what each kind of write costs.
HOURLY_POINTS, DAILY_POINTS = 5_000, 35_000
CREATE, UPDATE, DELETE = 3, 2, 1
DEFAULT_WINDOW = timedelta(minutes=5)  # the wait after a 429 that says nothing about when to come back


@dataclass
class WriteBudget:
    """Points spent on writes, over rolling hour and day windows, kept in memory by the adapter."""

    per_hour: int = HOURLY_POINTS
    per_day: int = DAILY_POINTS
    spent: deque[tuple[datetime, int]] = field(default_factory=deque)

    def _used(self, now: datetime, window: timedelta) -> int:
        return sum(points for at, points in self.spent if at > now - window)

    def reserve(self, points: int, now: datetime) -> None:
        """Count `points` as spent at `now`, or raise RateLimited(until the oldest points fall out)."""
        while self.spent and self.spent[0][0] <= now - timedelta(days=1):
            self.spent.popleft()
        for window, limit in ((timedelta(hours=1), self.per_hour), (timedelta(days=1), self.per_day)):
            used = self._used(now, window)
            if used + points > limit:
                running = used
                for at, spent in self.spent:  # the time at which enough points leave the window
                    if at <= now - window:
                        continue
                    running -= spent
                    if running + points <= limit:
                        raise RateLimited(
                            at + window, f"bluesky: the write budget ({limit} points per {_name(window)})"
                        )
                raise RateLimited(now + window, f"bluesky: a write of {points} points exceeds {limit} per window")
        self.spent.append((now, points))

    def refund(self, points: int, at: datetime) -> None:
        """Give back points reserved for a write the server refused before it took effect."""
        for i, entry in enumerate(self.spent):
            if entry == (at, points):
                del self.spent[i]
                return


def _name(window: timedelta) -> str:
    return "hour" if window == timedelta(hours=1) else "day"


@dataclass
class RateWindow:
    """What the last answer's `ratelimit-*` headers said."""

    remaining: int | None = None
    reset: datetime | None = None

    def update(self, headers: Mapping[str, Any]) -> None:
        remaining, reset = header_int(headers.get("ratelimit-remaining")), header_epoch(headers.get("ratelimit-reset"))
        if remaining is not None or reset is not None:
            self.remaining, self.reset = remaining, reset

    def blocked_until(self, now: datetime) -> datetime | None:
        if self.remaining == 0 and self.reset is not None and self.reset > now:
            return self.reset
        return None


def until_after_429(headers: Mapping[str, Any], now: datetime) -> datetime:
    reset = header_epoch(headers.get("ratelimit-reset"))
    if reset is not None and reset > now:
        return reset
    retry_after = header_int(headers.get("retry-after"))
    if retry_after is not None and retry_after >= 0:
        return now + timedelta(seconds=retry_after)
    return now + DEFAULT_WINDOW


def error_name(content: Any) -> tuple[str, str]:
    """(error, message) of an XRPC error body, from the SDK's model or a raw mapping."""
    if isinstance(content, Mapping):
        return str(content.get("error") or ""), str(content.get("message") or "")
    error, message = getattr(content, "error", None), getattr(content, "message", None)
    return str(error or ""), str(message or "")


def translate(status: int, content: Any, endpoint: str, write: bool, scrub: Any) -> PlatformError:
    """The growthloop error for an XRPC error answer (never a 429 or an ExpiredToken: the caller handles those)."""
    error, message = error_name(content)
    detail = " ".join(f"{error}: {message}".strip(": ").split())[:200]
    summary = scrub(f"bluesky {endpoint}: {status}" + (f" {detail}" if detail else ""))
    if status == 401 or status == 403 or error in ("InvalidToken", "AuthMissing", "AccountTakedown"):
        return AuthFailed(
            f"{summary}: the session for {VARIABLES[0]} was refused; check {VARIABLES[1]} (an app password, "
            "revoked or mistyped?) and that the account is active"
        )
    if status >= 500 or status == 408:
        return PlatformUnavailable(summary + ("; the outcome is unknown" if write else ""))
    if write:
        return ContentRejected(summary)
    return PlatformError(summary)


__all__ = [
    "CREATE",
    "DAILY_POINTS",
    "DELETE",
    "HOURLY_POINTS",
    "UPDATE",
    "RateWindow",
    "WriteBudget",
    "error_name",
    "translate",
    "until_after_429",
]
