"""A real platform in dry-run mode: every stage runs, but a publish is logged instead of sent.

A real account starts this way until its configuration says `live = true`, so a new set-up can be
watched end to end (plans, drafts, the gate, rate limits, metrics of nothing) before it posts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from growthloop.domain import Capabilities, Mention, PostMetrics, PublishReceipt, PublishRequest
from growthloop.errors import DryRun, PlatformError
from growthloop.ports import CredentialCheck, Identity, Platform

log = structlog.get_logger("growthloop.dry_run")


class DryRunPlatform:
    def __init__(self, inner: Platform) -> None:
        self.inner = inner
        self.name = inner.name

    def capabilities(self) -> Capabilities:
        return self.inner.capabilities()

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        log.info(
            "dry_run.publish",
            platform=self.name,
            key=request.key,
            parts=list(request.parts),
            in_reply_to=request.in_reply_to,
        )
        raise DryRun(f"not sent to {self.name}: set live = true in the configuration to post")

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        return None  # nothing is ever sent

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]:
        return self.inner.metrics(platform_ids, now)

    def follower_count(self, now: datetime) -> int:
        return self.inner.follower_count(now)

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        return self.inner.mentions(since, now)

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        return self.inner.search_recent(query, now)

    def check_credentials(self, now: datetime) -> Identity:
        """The wrapped platform's check: it only reads, so a dry run may make it."""
        if not isinstance(self.inner, CredentialCheck):
            raise PlatformError(f"{self.name} has no credentials to check")
        return self.inner.check_credentials(now)
