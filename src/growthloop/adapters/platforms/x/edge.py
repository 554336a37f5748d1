"""The HTTP edge of the X adapter: rate-limit headers, a default timeout, and error translation.

Translation from HTTP to growthloop's error tree (growthloop.errors):

    429                               -> RateLimited(until)   until = the reset X gave
    401                               -> AuthFailed           names the credential variables, never values
    403 duplicate content             -> ContentRejected
    403 reply not allowed (unsummoned)-> ReplyNotAllowed      a ContentRejected
    403 access level (plan)           -> AccessDenied         an AuthFailed
    403 otherwise                     -> AuthFailed           permissions, scopes
    402, or 429 usage-capped          -> CreditsExhausted     prepaid credits or the spending limit spent
    5xx, timeout, connection error,
    a body that is not JSON           -> PlatformUnavailable  for a write the outcome is unknown
    other 4xx on a write              -> ContentRejected
    other 4xx on a read               -> PlatformError
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from growthloop import redact
from growthloop.adapters.platforms.headers import header_epoch, header_int
from growthloop.adapters.platforms.x import parse
from growthloop.adapters.platforms.x.credentials import XCredentials
from growthloop.adapters.platforms.x.models import AccessDenied, ReplyNotAllowed
from growthloop.errors import AuthFailed, ContentRejected, CreditsExhausted, PlatformError, PlatformUnavailable

# X sends one family per limit that applies: the endpoint's 15-minute window, and for posting the
# account's and the app's 24-hour caps.
LIMIT_FAMILIES = ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour")
DEFAULT_WINDOW = timedelta(minutes=15)  # X's window, for a 429 that carries no reset at all


class TimeoutAdapter(HTTPAdapter):
    """requests' adapter with a default timeout: the SDK passes none, and a call must never hang.

    No retries at this level (urllib3's default here): a retried POST could publish twice.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request: Any, stream: bool = False, timeout: Any = None, *args: Any, **kwargs: Any) -> Any:
        return super().send(request, stream, self.timeout if timeout is None else timeout, *args, **kwargs)


@dataclass
class Window:
    remaining: int | None
    reset: datetime | None


@dataclass
class RateLimits:
    """What X's headers said about each endpoint's budget, kept between calls."""

    windows: dict[str, dict[str, Window]] = field(default_factory=dict)

    def update(self, endpoint: str, headers: Mapping[str, str]) -> None:
        seen = {}
        for family in LIMIT_FAMILIES:
            remaining, reset = (
                header_int(headers.get(f"{family}-remaining")),
                header_epoch(headers.get(f"{family}-reset")),
            )
            if remaining is not None or reset is not None:
                seen[family] = Window(remaining, reset)
        if seen:
            self.windows.setdefault(endpoint, {}).update(seen)

    def blocked_until(self, endpoint: str, now: datetime) -> datetime | None:
        """When the endpoint's budget is spent: the latest reset among the exhausted windows."""
        resets = [
            w.reset
            for w in self.windows.get(endpoint, {}).values()
            if w.remaining == 0 and w.reset is not None and w.reset > now
        ]
        return max(resets) if resets else None

    @staticmethod
    def until_after_429(headers: Mapping[str, str], now: datetime) -> datetime:
        """When to try again after a 429, from the headers that came with it."""
        windows = [
            (header_int(headers.get(f"{f}-remaining")), header_epoch(headers.get(f"{f}-reset"))) for f in LIMIT_FAMILIES
        ]
        exhausted = [reset for remaining, reset in windows if remaining == 0 and reset is not None]
        resets = exhausted or [reset for _remaining, reset in windows if reset is not None]
        if resets:
            return max(resets)
        retry_after = header_int(headers.get("retry-after"))
        if retry_after is not None and retry_after >= 0:
            return now + timedelta(seconds=retry_after)
        return now + DEFAULT_WINDOW


def _body(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _summary(status: int, reason: str | None, info: Mapping[str, str], credentials: XCredentials) -> str:
    """The status and the server's own words: scrubbed before the cut, so no part of a secret survives it."""
    detail = info.get("detail") or info.get("message") or info.get("title") or reason or ""
    detail = redact.cut(credentials.scrub(detail), 200)
    return credentials.scrub(f"{status} {reason or ''}").strip() + (f": {detail}" if detail else "")


_DUPLICATE = ("duplicate content", "duplicate")
_UNSUMMONED = (
    "reply to this conversation is not allowed",
    "not been mentioned",
    "otherwise engaged",
    "not allowed to reply",
)
_ACCESS_LEVEL = ("client-not-enrolled", "client-forbidden", "access level", "subset of x api", "required_enrollment")


CREDITS_RETRY = timedelta(hours=1)  # a refused call is not billed: look again hourly for added credits
# any wording of spent credits, a reached usage cap or spending limit (X titles, types and details vary)
_CREDITS = ("credit", "usage-capped", "usage cap", "usagecap", "spending limit", "spend limit", "spend cap")


def credits_exhausted(
    response: requests.Response, endpoint: str, now: datetime, credentials: XCredentials
) -> CreditsExhausted | None:
    """X's answer when the prepaid credits (or the spending limit of the billing cycle) are spent.

    X's pricing page: "API requests will be blocked until you add credits" (also when a balance went slightly
    negative), and with a spending limit "until the next billing cycle". X answers 402 Payment Required with
    a problem titled CreditsDepleted; its error types list `usage-capped` ("Usage cap exceeded", sent with 429).
    Recognised by status and body: a 402, or a body naming the credits or the usage cap.
    """
    status = response.status_code
    if status not in (402, 429, 403):
        return None
    body = _body(response)
    info = parse.problem(body)
    words = " ".join(info.values()).lower()
    if status != 402 and not any(k in words for k in _CREDITS):
        return None
    summary = _summary(status, response.reason, info, credentials)
    title = credentials.scrub(info.get("title", ""))[:40]
    if title and title not in summary:
        summary = f"{summary} ({title})"
    return CreditsExhausted(
        now + CREDITS_RETRY,
        f"X {endpoint}: {summary}: the X app's prepaid credits (or its spending limit) are spent; add credits or "
        "raise the spending limit in the Developer Console (console.x.com); posts stay queued",
    )


def translate(response: requests.Response, endpoint: str, write: bool, credentials: XCredentials) -> PlatformError:
    """The growthloop error for an HTTP error response (never a 429: the caller waits those out)."""
    status = response.status_code
    body = _body(response)
    info = parse.problem(body)
    if isinstance(body, Mapping) and body.get("reason") is not None:
        info.setdefault("reason", str(body["reason"]))
    words = " ".join(info.values()).lower()
    summary = _summary(status, response.reason, info, credentials)
    where = f"X {endpoint}"
    if status == 401:
        return AuthFailed(f"{where}: {summary}: {credentials.hint_unauthorized()}")
    if status == 403:
        if any(k in words for k in _UNSUMMONED):
            return ReplyNotAllowed(
                f"{where}: {summary} (X lets an automated reply through only where the account was mentioned "
                "or quoted by the post's author: keep it as a draft for a person to approve)"
            )
        if any(k in words for k in _DUPLICATE):
            return ContentRejected(f"{where}: {summary} (X refuses a post identical to a recent one)")
        if any(k in words for k in _ACCESS_LEVEL):
            return AccessDenied(f"{where}: {summary}: {credentials.hint_access_level()}")
        return AuthFailed(f"{where}: {summary}: {credentials.hint_forbidden(write)}")
    if status >= 500 or status == 408:
        unknown = "; the outcome is unknown" if write else ""
        return PlatformUnavailable(f"{where}: {summary}{unknown}")
    if write:
        return ContentRejected(f"{where}: {summary}")
    return PlatformError(f"{where}: {summary}")


__all__ = ["RateLimits", "TimeoutAdapter", "credits_exhausted", "translate"]
