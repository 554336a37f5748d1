"""The Mastodon adapter (docs/design.md#ports): the Mastodon API of any instance through `Mastodon.py`.

- `credentials`: the access token from GROWTHLOOP_MASTODON_ACCESS_TOKEN;
- `platform`: MastodonPlatform, the Platform port (statuses, threads, replies, metrics, followers, mentions,
  search) with the instance's length rule, plus a credentials check for the doctor;
- `edge`: X-RateLimit-* headers, HTTP errors -> growthloop's error tree;
- `parse`: raw bodies -> growthloop types.
"""

from growthloop.adapters.platforms.mastodon.credentials import ACCESS_TOKEN, MastodonCredentials, MissingToken
from growthloop.adapters.platforms.mastodon.platform import MastodonAccount, MastodonPlatform

__all__ = ["ACCESS_TOKEN", "MastodonAccount", "MastodonCredentials", "MastodonPlatform", "MissingToken"]
