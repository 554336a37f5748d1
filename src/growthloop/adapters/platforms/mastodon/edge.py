"""The HTTP edge of the Mastodon adapter: X-RateLimit-* headers, and HTTP errors -> growthloop's error tree.

    429                               -> RateLimited(until)   until = X-RateLimit-Reset (or Retry-After)
    401, 403                          -> AuthFailed           names GROWTHLOOP_MASTODON_ACCESS_TOKEN, never its value
    5xx, 408, timeout, connection,
    a body that is not JSON           -> PlatformUnavailable  for a write the outcome is unknown
    other 4xx on a write (422 too
    long, 404 a deleted parent, ...)  -> ContentRejected
    404 on a read                     -> NotFound             a deleted status, or an endpoint too new
    other 4xx on a read               -> PlatformError

Mastodon sends X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (an ISO 8601 time; some
servers of the same API, GoToSocial among them, send epoch seconds) for the limit that applies to the call:
300 requests per 5 minutes per account, and 300 statuses per 3 hours for posting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests

from growthloop.adapters.platforms.headers import header_int
from growthloop.adapters.platforms.mastodon.credentials import MastodonCredentials
from growthloop.errors import AuthFailed, ContentRejected, PlatformError, PlatformUnavailable

DEFAULT_WINDOW = timedelta(minutes=5)  # Mastodon's general window, for a 429 that carries no reset at all


# Form fields Mastodon.py sends as '1' / '0' that are booleans in a JSON body.
_BOOLEAN_FIELDS = frozenset({"sensitive"})


class DocumentedSession(requests.Session):
    """The session under Mastodon.py: requests as Mastodon's API documentation describes them.

    Mastodon.py posts form-encoded bodies and asks for `/api/v2/instance/` with a trailing slash. Mastodon
    takes both, but its documentation (and the OpenAPI spec the contract tests serve) describe JSON bodies
    and the bare path, so a write is sent as the same fields in a JSON object, and the path without the
    slash. Nothing else changes: headers (the Idempotency-Key among them), query and timeout are the SDK's.
    """

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str):
            path = urlsplit(url).path
            if len(path) > 1 and path.endswith("/"):
                url = url.replace(path, path.rstrip("/"), 1)
        data = kwargs.get("data")
        if isinstance(data, Mapping) and not kwargs.get("files") and kwargs.get("json") is None:
            kwargs["json"] = {k: (v == "1" if k in _BOOLEAN_FIELDS else v) for k, v in kwargs.pop("data").items()}
        return super().request(method, url, *args, **kwargs)


def parse_reset(value: str | None) -> datetime | None:
    """X-RateLimit-Reset: an ISO 8601 time, or epoch seconds; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass
class Window:
    remaining: int | None
    reset: datetime | None


@dataclass
class RateLimits:
    """What the instance's headers said about each endpoint's budget, kept between calls."""

    windows: dict[str, Window] = field(default_factory=dict)

    def update(self, endpoint: str, headers: Mapping[str, str]) -> None:
        remaining = header_int(headers.get("X-RateLimit-Remaining"))
        reset = parse_reset(headers.get("X-RateLimit-Reset"))
        if remaining is not None or reset is not None:
            self.windows[endpoint] = Window(remaining, reset)

    def blocked_until(self, endpoint: str, now: datetime) -> datetime | None:
        w = self.windows.get(endpoint)
        if w is not None and w.remaining == 0 and w.reset is not None and w.reset > now:
            return w.reset
        return None

    @staticmethod
    def until_after_429(headers: Mapping[str, str], now: datetime) -> datetime:
        reset = parse_reset(headers.get("X-RateLimit-Reset"))
        if reset is not None:
            return reset
        retry_after = header_int(headers.get("Retry-After"))
        if retry_after is not None and retry_after >= 0:
            return now + timedelta(seconds=retry_after)
        return now + DEFAULT_WINDOW


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = ""
    if isinstance(body, Mapping):
        detail = str(body.get("error_description") or body.get("error") or "")
    detail = " ".join(detail.split())
    if len(detail) > 200:
        detail = detail[:197] + "..."
    head = f"{response.status_code} {response.reason or ''}".strip()
    return head + (f": {detail}" if detail else "")


class NotFound(PlatformError):
    """A read of something the instance does not have: a deleted status, or an endpoint older versions lack."""


def translate(
    response: requests.Response, endpoint: str, write: bool, credentials: MastodonCredentials
) -> PlatformError:
    """The growthloop error for an HTTP error response (never a 429: the caller handles those)."""
    status = response.status_code
    summary = credentials.scrub(_detail(response))
    where = f"mastodon {endpoint}"
    if status == 401:
        return AuthFailed(
            f"{where}: {summary}: the instance did not accept the token in {credentials.variable} "
            "(wrong, revoked, or made on another instance than mastodon.base_url)"
        )
    if status == 403:
        return AuthFailed(
            f"{where}: {summary}: the token in {credentials.variable} lacks a scope for this call "
            "(it needs read and write), or the account is suspended"
        )
    if status >= 500 or status == 408:
        unknown = "; the outcome is unknown" if write else ""
        return PlatformUnavailable(f"{where}: {summary}{unknown}")
    if write:
        return ContentRejected(f"{where}: {summary}")
    if status == 404:
        return NotFound(f"{where}: {summary}")
    return PlatformError(f"{where}: {summary}")


__all__ = ["DocumentedSession", "NotFound", "RateLimits", "parse_reset", "translate"]
