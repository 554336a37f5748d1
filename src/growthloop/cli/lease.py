"""The `--wait` option of the commands that run an account's jobs, and the lease they hold meanwhile."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from growthloop.adapters.store.store import SqlStore
from growthloop.jobs.lease import MAX_WAIT, AccountLease, Holder

WaitOption = Annotated[
    float,
    typer.Option(
        "--wait",
        help="When another process runs this account, wait up to this many seconds for it to finish "
        "(default 0: refuse at once, naming it).",
        min=0,
        max=MAX_WAIT,
    ),
]


def account_lease(store: SqlStore, account: str, wait: float) -> AccountLease:
    """The account's lease, to hold in a `with` block; a waiting process says once what it waits for."""

    def waiting(holder: Holder, seconds: float) -> None:
        sys.stderr.write(
            f"account {account!r} is held by another process ({holder.describe()}); waiting up to {seconds:g} s\n"
        )
        sys.stderr.flush()

    return AccountLease(store, account, wait=wait, on_wait=waiting)
