"""The Mastodon access token, from the environment only (SPEC §3 I10: never in files, logs, errors or the database).

GROWTHLOOP_MASTODON_ACCESS_TOKEN holds a user access token of the account, made on its instance under
Preferences > Development > New application, with the scopes read and write (or read:accounts,
read:notifications, read:search, read:statuses and write:statuses). Mastodon's tokens do not expire.
Errors and the repr name the variable, never the value. Another account of a deployment reads
GROWTHLOOP_ACCOUNTS__<NAME>__MASTODON_ACCESS_TOKEN (growthloop/account_env.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from growthloop import account_env
from growthloop.errors import ConfigError

ACCESS_TOKEN = "GROWTHLOOP_MASTODON_ACCESS_TOKEN"
_REDACTED = "[redacted]"


class MissingToken(ConfigError):
    def __init__(self, problem: str, variable: str = ACCESS_TOKEN) -> None:
        super().__init__("environment", variable, problem)


class MastodonCredentials:
    """The account's access token. `repr()` shows the variable's name only; it cannot be pickled."""

    __slots__ = ("_token", "variable")

    def __init__(self, token: str, variable: str = ACCESS_TOKEN) -> None:
        token = token.strip()
        self.variable = variable  # where the token came from: another account's variable has its name in it
        if not token:
            raise MissingToken(
                "not set: put the account's access token (scopes read and write) in the environment", variable
            )
        if any(c.isspace() for c in token):
            raise MissingToken("holds whitespace inside the token: copy the access token alone", variable)
        self._token = token

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, account: str | None = None) -> MastodonCredentials:
        """The token of the single-account variable, or of `account`'s."""
        env = os.environ if environ is None else environ
        values, names = account_env.scoped(account, (ACCESS_TOKEN,), environ=env)
        return cls(values.get(ACCESS_TOKEN, ""), names[ACCESS_TOKEN])

    def __reduce__(self) -> Any:
        raise TypeError("MastodonCredentials cannot be pickled: read them from the environment where they are needed")

    def __repr__(self) -> str:
        return f"MastodonCredentials(variable={self.variable!r})"

    __str__ = __repr__

    @property
    def token(self) -> str:
        return self._token

    def scrub(self, text: str) -> str:
        """`text` with the token replaced: for messages built from what a server sent back."""
        return text.replace(self._token, _REDACTED) if len(self._token) >= 4 else text


__all__ = ["ACCESS_TOKEN", "MastodonCredentials", "MissingToken"]
