"""Capability profiles: what each real platform shows, so the simulator can hide the same (docs/design.md#simulator).

X shows every counter the simulator draws (impressions, profile and link clicks among them). Bluesky and
Mastodon show only likes, reposts, replies and quotes, and the follower count: no impressions, no clicks,
no bookmarks. A simulated platform with the "bluesky" or "mastodon" profile answers `metrics` with the
hidden counters as None, exactly as the real adapters do, so attribution and learning fall back the way
they would there (profile clicks -> impressions -> engagements -> the follower series alone), and the
gate counts by that platform's length rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from growthloop.domain import GRAPHEMES, MASTODON, METRIC_COUNTERS, Capabilities

FEDIVERSE = frozenset({"likes", "reposts", "replies", "quotes"})


@dataclass(frozen=True)
class Profile:
    name: str
    capabilities: Capabilities
    shown: frozenset[str]  # the PostMetrics counters the platform shows

    def hide(self, counters: Mapping[str, int]) -> dict[str, int | None]:
        """The counters as this platform would show them: what it does not show is None."""
        return {name: (counters[name] if name in self.shown else None) for name in METRIC_COUNTERS}

    @property
    def engagements(self) -> tuple[str, ...]:
        """The engagement counters it shows, in the order learning sums them."""
        return tuple(c for c in ("likes", "reposts", "replies", "quotes", "bookmarks") if c in self.shown)

    @property
    def signals(self) -> tuple[str, ...]:
        """Learning's counters it gives: impressions, profile clicks, engagements (in that order)."""
        given = [c for c in ("impressions", "profile_clicks") if c in self.shown]
        return (*given, "engagements") if self.engagements else tuple(given)


PROFILES: dict[str, Profile] = {
    "x": Profile(
        "x",
        # Like X's self-serve API (2026): search works, but only summoned replies may be automatic.
        Capabilities(impressions=True, profile_clicks=True, unsummoned_replies=False, search=True),
        frozenset(METRIC_COUNTERS),
    ),
    "bluesky": Profile(
        "bluesky",
        Capabilities(
            impressions=False,
            profile_clicks=False,
            unsummoned_replies=False,
            search=True,
            max_weighted_length=300,
            length_rule=GRAPHEMES,
        ),
        FEDIVERSE,
    ),
    "mastodon": Profile(
        "mastodon",
        # mastodon.social's rule: 500 characters, each URL as 23
        Capabilities(
            impressions=False,
            profile_clicks=False,
            unsummoned_replies=False,
            search=True,
            max_weighted_length=500,
            length_rule=MASTODON,
            url_weight=23,
        ),
        FEDIVERSE,
    ),
}
PROFILE_NAMES = tuple(PROFILES)


__all__ = ["PROFILES", "PROFILE_NAMES", "Profile"]
