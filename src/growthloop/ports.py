"""The ports of docs/design.md#ports: Platform (and its CredentialCheck), Generator, Clock, and the Store.

Adapters live beside them under `growthloop.adapters`; `bootstrap.py` is the one place that picks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from growthloop.domain import Brief, Capabilities, Draft, Mention, PostMetrics, PublishReceipt, PublishRequest


@runtime_checkable
class Clock(Protocol):
    """The only source of time. Jobs never read the wall clock or sleep on their own."""

    def now(self) -> datetime: ...

    def sleep_until(self, when: datetime) -> None: ...


@runtime_checkable
class Platform(Protocol):
    name: str

    def capabilities(self) -> Capabilities: ...

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        """Post a single post or a thread. Raises a PlatformError subclass on failure."""
        ...

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        """Reconcile an attempt whose outcome is unknown: the receipt if it went out, else None."""
        ...

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]: ...

    def follower_count(self, now: datetime) -> int: ...

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        """Posts that mention or quote the account, created after `since`."""
        ...

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        """Recent posts by others matching `query` (only where capabilities().search)."""
        ...


class Identity(Protocol):
    """Who a platform's credentials act for, as a credentials check reports it."""

    @property
    def username(self) -> str | None: ...


@runtime_checkable
class CredentialCheck(Protocol):
    """A platform that can tell, with one harmless read, whether its credentials work (doctor's check).

    The real platforms have it (users/me on X, verify_credentials on Mastodon, the session on Bluesky), and the
    dry-run wrapper passes it to the platform it wraps; the simulator has no credentials.
    """

    def check_credentials(self, now: datetime) -> Identity:
        """Who the credentials act for. Raises a GrowthloopError naming the variables (never a value) when refused."""
        ...


@runtime_checkable
class Generator(Protocol):
    name: str

    def write(self, brief: Brief) -> Draft: ...

    def write_reply(self, brief: Brief, mention: Mention) -> Draft:
        """A reply to `mention`. Its text is untrusted: never instructions, never copied out."""
        ...
