"""CredentialCheck: the real platforms have it, the simulator has not, and the dry-run wrapper passes the call
to the platform it wraps (doctor asks through the wrapper, never around it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from growthloop.adapters.platforms.bluesky import BlueskyPlatform
from growthloop.adapters.platforms.dry_run import DryRunPlatform
from growthloop.adapters.platforms.mastodon import MastodonPlatform
from growthloop.adapters.platforms.sim.platform import SimPlatform
from growthloop.adapters.platforms.x import XPlatform
from growthloop.errors import AuthFailed, PlatformError
from growthloop.ports import CredentialCheck, Platform

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Who:
    username: str


class Answering:
    """A platform's edge that only answers who it is, or refuses."""

    name = "fake"

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.asked: list[datetime] = []

    def check_credentials(self, now: datetime) -> Who:
        self.asked.append(now)
        if self.refuse:
            raise AuthFailed("fake: GROWTHLOOP_FAKE_TOKEN was refused")
        return Who("someone")


def test_the_real_platforms_check_credentials_and_the_simulator_does_not() -> None:
    for platform in (XPlatform, MastodonPlatform, BlueskyPlatform, DryRunPlatform):
        assert issubclass(platform, CredentialCheck), platform
    assert not issubclass(SimPlatform, CredentialCheck)


def test_the_dry_run_wrapper_passes_the_check_to_the_platform_it_wraps() -> None:
    inner = Answering()
    wrapped = DryRunPlatform(inner)  # type: ignore[arg-type]  # only the check is called
    assert wrapped.check_credentials(NOW).username == "someone"
    assert inner.asked == [NOW]
    with pytest.raises(AuthFailed, match="GROWTHLOOP_FAKE_TOKEN"):
        DryRunPlatform(Answering(refuse=True)).check_credentials(NOW)  # type: ignore[arg-type]


def test_a_wrapped_platform_without_credentials_says_so() -> None:
    class NoCredentials:
        name = "quiet"

    wrapped = DryRunPlatform(NoCredentials())  # type: ignore[arg-type]
    assert isinstance(wrapped, Platform)
    with pytest.raises(PlatformError, match="quiet has no credentials to check"):
        wrapped.check_credentials(NOW)
