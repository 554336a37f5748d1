"""Bluesky credentials, from environment variables only (SPEC §3 I10: never in files, logs, errors or the database).

GROWTHLOOP_BLUESKY_HANDLE is the account's handle (or its DID, or the e-mail address the server accepts as
an identifier); GROWTHLOOP_BLUESKY_APP_PASSWORD an app password made for growthloop in the account's settings
(never the account's main password: an app password can be revoked alone). The pair buys a session
(an access token and a refresh token); the adapter refreshes it and, when the refresh token is gone too,
logs in again with the pair. Another account of a deployment reads GROWTHLOOP_ACCOUNTS__<NAME>__BLUESKY_HANDLE
and GROWTHLOOP_ACCOUNTS__<NAME>__BLUESKY_APP_PASSWORD (growthloop/account_env.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from growthloop import account_env
from growthloop.errors import AuthFailed, ConfigError, PlatformUnavailable

HANDLE = "GROWTHLOOP_BLUESKY_HANDLE"
APP_PASSWORD = "GROWTHLOOP_BLUESKY_APP_PASSWORD"
VARIABLES = (HANDLE, APP_PASSWORD)
BASE_URL_SETTING = "bluesky.base_url"
_REDACTED = "[redacted]"


class MissingCredentials(ConfigError):
    """The environment lacks a Bluesky credential. Names the variable, never a value."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__("environment", variable, problem)


class LoginRefused(ConfigError, AuthFailed):
    """The server refused the handle and app password: a configuration error (exit 2) and an AuthFailed
    (the post stage stops posting) at once."""

    def __init__(self, problem: str) -> None:
        ConfigError.__init__(self, "environment", f"{HANDLE} / {APP_PASSWORD}", problem)


class ServerNotFound(ConfigError, PlatformUnavailable):
    """Nothing that speaks XRPC answered at the configured base URL when the adapter first logged in."""

    def __init__(self, base_url: str, problem: str) -> None:
        ConfigError.__init__(self, "settings", BASE_URL_SETTING, f"{base_url}: {problem}")


class BlueskyCredentials:
    """A handle and an app password. `repr()` and `str()` show the handle's variable name only.

    A plain class on purpose: `dataclasses.asdict`, a default repr or a pickle would carry the values.
    """

    __slots__ = ("_handle", "_password")

    def __init__(self, handle: str, app_password: str) -> None:
        self._handle = handle.strip().removeprefix("@")
        self._password = app_password.strip()

    def __reduce__(self) -> Any:
        raise TypeError("BlueskyCredentials cannot be pickled: read them from the environment where they are needed")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, account: str | None = None) -> BlueskyCredentials:
        """The pair in the single-account variables, or in `account`'s."""
        env = os.environ if environ is None else environ
        values, names = account_env.scoped(account, VARIABLES, environ=env)
        handle, password = values.get(HANDLE, "").strip(), values.get(APP_PASSWORD, "").strip()
        if not handle:
            raise MissingCredentials(names[HANDLE], "not set: the account's handle, e.g. name.bsky.social")
        if not password:
            raise MissingCredentials(names[APP_PASSWORD], "not set: an app password made in the account's settings")
        return cls(handle, password)

    @property
    def handle(self) -> str:
        return self._handle

    @property
    def app_password(self) -> str:
        return self._password

    def __repr__(self) -> str:
        return f"BlueskyCredentials(variables={VARIABLES!r})"

    __str__ = __repr__

    def scrub(self, text: str) -> str:
        """`text` with the app password replaced: for messages built from what a server sent back."""
        return text.replace(self._password, _REDACTED) if len(self._password) >= 4 else text


__all__ = [
    "APP_PASSWORD",
    "BASE_URL_SETTING",
    "HANDLE",
    "VARIABLES",
    "BlueskyCredentials",
    "LoginRefused",
    "MissingCredentials",
    "ServerNotFound",
]
