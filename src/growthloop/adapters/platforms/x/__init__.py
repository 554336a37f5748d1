"""The X adapter (docs/design.md#ports): the X API v2 through the official SDK `xdk`.

- `credentials`: XCredentials from GROWTHLOOP_X_* environment variables (OAuth 1.0a or an OAuth 2.0 user token);
- `platform`: XPlatform, the Platform port (posts, threads, replies, metrics, followers, mentions, recent
  search) plus a credentials check for the doctor;
- `edge`: rate-limit headers, the request timeout, HTTP errors -> growthloop's error tree;
- `parse`: raw bodies -> growthloop types, under the old and the new field names.
"""

from growthloop.adapters.platforms.x.credentials import MissingCredentials, XCredentials
from growthloop.adapters.platforms.x.models import AccessDenied, ReplyNotAllowed, XAccount
from growthloop.adapters.platforms.x.platform import XPlatform

__all__ = ["AccessDenied", "MissingCredentials", "ReplyNotAllowed", "XAccount", "XCredentials", "XPlatform"]
