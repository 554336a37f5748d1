"""Where each account's secrets come from: the environment (or `.env`), one set per account, never the database
or a settings file (SPEC §3 I10).

The single-account variables (GROWTHLOOP_X_ACCESS_TOKEN, GROWTHLOOP_MASTODON_ACCESS_TOKEN, ...) belong to the
account a process was started for (`growthloop run`, `--account`, the default account of a deployment). Every
other account registered with `growthloop accounts add NAME` reads the same variables with its name inserted:

    GROWTHLOOP_ACCOUNTS__<KEY>__<VARIABLE without GROWTHLOOP_>

where KEY is the account's name in capitals with `-` and `.` written `_`. For the account `brand-2`:

    GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN
    GROWTHLOOP_ACCOUNTS__BRAND_2__MASTODON_ACCESS_TOKEN
    GROWTHLOOP_ACCOUNTS__BRAND_2__BLUESKY_APP_PASSWORD

An account never falls back to another account's token. Only what belongs to the platform *app* rather than
the account (X's consumer key and secret, GROWTHLOOP_X_API_KEY and GROWTHLOOP_X_API_SECRET)
is shared: the account's own variable when it is set, else the single-account one. The LLM key
(GROWTHLOOP_LLM_API_KEY) is one for the deployment.

A leaf module (no growthloop imports), so that every credentials class can read it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

PREFIX = "GROWTHLOOP_"
ACCOUNTS_PREFIX = "GROWTHLOOP_ACCOUNTS__"
_NOT_KEY = re.compile(r"[^A-Z0-9_]")


def account_key(account: str) -> str:
    """The account's part of its variables' names: `brand-2` -> `BRAND_2`."""
    return _NOT_KEY.sub("_", account.upper())


def account_variable(account: str, variable: str) -> str:
    """`GROWTHLOOP_X_ACCESS_TOKEN` of the account `brand-2` -> `GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN`."""
    return f"{ACCOUNTS_PREFIX}{account_key(account)}__{variable.removeprefix(PREFIX)}"


def variable_names(
    account: str | None,
    variables: Iterable[str],
    shared: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """For each single-account variable, the variable to read for `account` (None: the single-account one).

    A `shared` variable (the platform app's, not the account's) is the account's own when set, else the
    single-account one.
    """
    env = os.environ if environ is None else environ
    if account is None:
        return {v: v for v in variables}
    names = {v: account_variable(account, v) for v in variables}
    for v in shared:
        if v in names and not env.get(names[v], "").strip():
            names[v] = v
    return names


def scoped(
    account: str | None,
    variables: Iterable[str],
    shared: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(values keyed by the single-account names, the variable each was read from): what a credentials class's
    `from_env` reads for `account`, and what its messages name."""
    env = os.environ if environ is None else environ
    names = variable_names(account, variables, shared, env)
    values = {v: env[name] for v, name in names.items() if name in env}
    return values, names


__all__ = ["ACCOUNTS_PREFIX", "account_key", "account_variable", "scoped", "variable_names"]
