"""The Mastodon access token, from the environment only: never in files, logs, errors or the database
(I10, docs/design.md#i10).

GROWTHLOOP_MASTODON_ACCESS_TOKEN holds a user access token of the account, made on its instance under
Preferences > Development > New application, with the scopes read and write (or read:accounts,
read:notifications, read:search, read:statuses and write:statuses). Mastodon's tokens do not expire.
Errors and the repr name the variable, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from growthloop.errors import ConfigError

ACCESS_TOKEN = "GROWTHLOOP_MASTODON_ACCESS_TOKEN"
_REDACTED = "[redacted]"


class MissingToken(ConfigError):
    def __init__(self, problem: str) -> None:
        super().__init__("environment", ACCESS_TOKEN, problem)


class MastodonCredentials:
    """The account's access token. `repr()` shows the variable's name only; it cannot be pickled."""

    __slots__ = ("_token",)
    variable = ACCESS_TOKEN

    def __init__(self, token: str) -> None:
        token = token.strip()
        if not token:
            raise MissingToken("not set: put the account's access token (scopes read and write) in the environment")
        if any(c.isspace() for c in token):
            raise MissingToken("holds whitespace inside the token: copy the access token alone")
        self._token = token

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MastodonCredentials:
        env = os.environ if environ is None else environ
        return cls(env.get(ACCESS_TOKEN, ""))

    def __reduce__(self) -> Any:
        raise TypeError("MastodonCredentials cannot be pickled: read them from the environment where they are needed")

    def __repr__(self) -> str:
        return f"MastodonCredentials(variable={ACCESS_TOKEN!r})"

    __str__ = __repr__

    @property
    def token(self) -> str:
        return self._token

    def scrub(self, text: str) -> str:
        """`text` with the token replaced: for messages built from what a server sent back."""
        return text.replace(self._token, _REDACTED) if len(self._token) >= 4 else text


__all__ = ["ACCESS_TOKEN", "MastodonCredentials", "MissingToken"]
