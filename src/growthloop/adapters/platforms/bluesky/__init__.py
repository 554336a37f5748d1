"""The Bluesky adapter (docs/design.md#ports): the AT Protocol through the `atproto` SDK.

- `credentials`: BlueskyCredentials from GROWTHLOOP_BLUESKY_HANDLE and GROWTHLOOP_BLUESKY_APP_PASSWORD;
- `platform`: BlueskyPlatform, the Platform port (posts, threads, replies, metrics, followers, notifications,
  search) plus the log-in at start and a credentials check for the doctor;
- `edge`: the write budget in points, rate-limit headers, XRPC errors -> growthloop's error tree;
- `parse`: raw bodies -> growthloop types; post ids (`DID/RKEY`) <-> AT-URIs.
"""

from growthloop.adapters.platforms.bluesky.credentials import (
    BlueskyCredentials,
    LoginRefused,
    MissingCredentials,
    ServerNotFound,
)
from growthloop.adapters.platforms.bluesky.platform import BlueskyAccount, BlueskyPlatform

__all__ = [
    "BlueskyAccount",
    "BlueskyCredentials",
    "BlueskyPlatform",
    "LoginRefused",
    "MissingCredentials",
    "ServerNotFound",
]
