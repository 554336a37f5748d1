"""X credentials, from environment variables only (SPEC §3 I10: never in files, logs, errors or the database).

Two ways to act for the account:

- OAuth 1.0a user context: all four of GROWTHLOOP_X_API_KEY, GROWTHLOOP_X_API_SECRET (the app's consumer
  key and secret), GROWTHLOOP_X_ACCESS_TOKEN and GROWTHLOOP_X_ACCESS_TOKEN_SECRET (the account's token).
  These do not expire: the mode to use for a daemon.
- OAuth 2.0 user context: GROWTHLOOP_X_OAUTH2_USER_TOKEN, or GROWTHLOOP_X_BEARER_TOKEN holding the same kind
  of token (an OAuth 2.0 *user* access token with the scopes tweet.read, tweet.write and users.read). It is
  sent as a bearer token. An app-only Bearer Token cannot act for an account: X answers 403 and the error
  says so. User access tokens expire after two hours unless refreshed, which this adapter does not do.

When the four OAuth 1.0a variables are all set they are used; some but not all of them set is an error,
never a silent fall-back. Errors and the repr name variables, never values.

Another account of a deployment reads the same variables under its own name (growthloop/account_env.py):
GROWTHLOOP_ACCOUNTS__<NAME>__X_ACCESS_TOKEN and so on; the app's consumer key and secret fall back to
GROWTHLOOP_X_API_KEY and GROWTHLOOP_X_API_SECRET, which all accounts of one X app share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from growthloop import account_env, redact
from growthloop.errors import ConfigError

API_KEY = "GROWTHLOOP_X_API_KEY"
API_SECRET = "GROWTHLOOP_X_API_SECRET"
ACCESS_TOKEN = "GROWTHLOOP_X_ACCESS_TOKEN"
ACCESS_TOKEN_SECRET = "GROWTHLOOP_X_ACCESS_TOKEN_SECRET"
OAUTH2_USER_TOKEN = "GROWTHLOOP_X_OAUTH2_USER_TOKEN"
BEARER_TOKEN = "GROWTHLOOP_X_BEARER_TOKEN"

OAUTH1_VARIABLES = (API_KEY, API_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET)
OAUTH2_VARIABLES = (OAUTH2_USER_TOKEN, BEARER_TOKEN)  # in order of preference
ALL_VARIABLES = OAUTH1_VARIABLES + OAUTH2_VARIABLES

Mode = Literal["oauth1", "oauth2"]


class MissingCredentials(ConfigError):
    """The environment does not hold a usable set of X credentials. Names variables, never values."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__("environment", variable, problem)


class XCredentials:
    """One usable set of X credentials. `repr()` and `str()` show the mode and variable names only.

    A plain class on purpose: `dataclasses.asdict`, a default repr or a pickle would carry the values.
    """

    __slots__ = ("mode", "variables", "_values", "_names")

    def __init__(
        self,
        mode: Mode,
        variables: tuple[str, ...],
        values: Mapping[str, str],
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.mode: Mode = mode
        self._names = dict(names or {})  # single-account variable -> the variable read (another account's)
        self.variables = tuple(self._name(v) for v in variables)  # the environment variables the values came from
        self._values = dict(values)

    def _name(self, variable: str) -> str:
        return self._names.get(variable, variable)

    def __reduce__(self) -> Any:
        raise TypeError("XCredentials cannot be pickled: read them from the environment where they are needed")

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, account: str | None = None) -> XCredentials:
        """The credentials in the environment: the single-account variables, or those of `account`."""
        env = os.environ if environ is None else environ
        raw, names = account_env.scoped(account, ALL_VARIABLES, shared=(API_KEY, API_SECRET), environ=env)
        found = {name: raw.get(name, "").strip() for name in ALL_VARIABLES}
        # the app's keys shared by every account do not choose OAuth 1.0a for an account by themselves
        oauth1 = [names[n] for n in OAUTH1_VARIABLES if found[n] and (account is None or names[n] != n)]
        if oauth1:
            oauth1 = [names[n] for n in OAUTH1_VARIABLES if found[n]]
            missing = [names[name] for name in OAUTH1_VARIABLES if not found[name]]
            if missing:
                raise MissingCredentials(
                    missing[0],
                    f"not set, but {', '.join(oauth1)} {'is' if len(oauth1) == 1 else 'are'}: OAuth 1.0a needs all "
                    f"four of {', '.join(names[n] for n in OAUTH1_VARIABLES)} (missing: {', '.join(missing)})",
                )
            return cls("oauth1", OAUTH1_VARIABLES, {name: found[name] for name in OAUTH1_VARIABLES}, names)
        for name in OAUTH2_VARIABLES:
            if found[name]:
                return cls("oauth2", (name,), {name: found[name]}, names)
        raise MissingCredentials(
            names[ACCESS_TOKEN],
            "no X credentials in the environment: set "
            f"{', '.join(names[n] for n in OAUTH1_VARIABLES)} (OAuth 1.0a), or {names[OAUTH2_USER_TOKEN]} "
            "(an OAuth 2.0 user token)",
        )

    @classmethod
    def oauth1(cls, api_key: str, api_secret: str, access_token: str, access_token_secret: str) -> XCredentials:
        """For tests and embedding; the application reads `from_env`."""
        return cls.from_env(dict(zip(OAUTH1_VARIABLES, (api_key, api_secret, access_token, access_token_secret))))

    @classmethod
    def oauth2_user_token(cls, token: str) -> XCredentials:
        return cls.from_env({OAUTH2_USER_TOKEN: token})

    # -- what is safe to show --------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"XCredentials(mode={self.mode!r}, variables={self.variables!r})"

    __str__ = __repr__

    def describe(self) -> str:
        if self.mode == "oauth1":
            return "OAuth 1.0a user context (" + ", ".join(self.variables) + ")"
        return f"OAuth 2.0 user context ({self.variables[0]})"

    def scrub(self, text: str) -> str:
        """`text` with every credential value (and any secret in the environment) replaced: for messages
        built from what a server sent back. Scrub before cutting (growthloop.redact)."""
        return redact.scrub(text, self._values.values())

    # -- what to say when X refuses them --------------------------------------------------------------
    def hint_unauthorized(self) -> str:
        """For a 401: the credentials were not accepted at all."""
        if self.mode == "oauth1":
            return (
                f"X did not accept the OAuth 1.0a credentials: check {self._name(ACCESS_TOKEN)} and "
                f"{self._name(ACCESS_TOKEN_SECRET)} (revoked, or regenerated since they were set?), then "
                f"{self._name(API_KEY)} and {self._name(API_SECRET)} (the app's keys)"
            )
        var = self.variables[0]
        return (
            f"X did not accept the OAuth 2.0 user token in {var}: it is wrong, revoked, or expired "
            "(user access tokens last two hours unless refreshed; OAuth 1.0a tokens do not expire)"
        )

    def hint_forbidden(self, write: bool) -> str:
        """For a 403 that is about the credentials (not about the content)."""
        if self.mode == "oauth1":
            if write:
                return (
                    f"the token in {self._name(ACCESS_TOKEN)} may be read-only: give the X app Read and Write "
                    f"permission, then regenerate {self._name(ACCESS_TOKEN)} and {self._name(ACCESS_TOKEN_SECRET)}"
                )
            return (
                f"the token in {self._name(ACCESS_TOKEN)} is not allowed this call; check the app's permissions "
                "and project"
            )
        var = self.variables[0]
        return (
            f"the token in {var} lacks a scope (it needs tweet.read, tweet.write and users.read), or it is an "
            "app-only Bearer Token, which cannot act for an account"
        )

    def hint_access_level(self) -> str:
        """For a 403 saying the app's access level (plan) does not include the endpoint."""
        app = self._name(API_KEY) if self.mode == "oauth1" else self.variables[0]
        return (
            f"the X app behind {app} is not enrolled for this endpoint: its access level (plan) or project does "
            "not include it"
        )

    # -- the SDK client --------------------------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `xdk.Client` (apart from base_url)."""
        if self.mode == "oauth1":
            from xdk.oauth1_auth import OAuth1

            v = self._values
            return {
                "auth": OAuth1(
                    api_key=v[API_KEY],
                    api_secret=v[API_SECRET],
                    callback="oob",
                    access_token=v[ACCESS_TOKEN],
                    access_token_secret=v[ACCESS_TOKEN_SECRET],
                )
            }
        # A user token goes in as `access_token`, never `bearer_token`: the SDK prefers a `bearer_token`
        # for reads and would then send it as an app-only token to endpoints that need user context.
        return {"access_token": next(iter(self._values.values()))}


__all__ = [
    "ACCESS_TOKEN",
    "ACCESS_TOKEN_SECRET",
    "ALL_VARIABLES",
    "API_KEY",
    "API_SECRET",
    "BEARER_TOKEN",
    "OAUTH1_VARIABLES",
    "OAUTH2_USER_TOKEN",
    "MissingCredentials",
    "XCredentials",
]
