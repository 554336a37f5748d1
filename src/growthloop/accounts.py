"""The account registry: the accounts a deployment runs, each with its own platform, world and settings file.

One row per account in `accounts` (the single-account commands add theirs on first use, bootstrap.ensure_account).
`growthloop accounts add` registers more; the workers run the jobs of `active_accounts`, each with
`settings_for(account, base)`. A pause stops every job of the account (the scheduler and the dispatcher skip
its due slots) until it is resumed; removal hides the account and stops its jobs but keeps its rows, unless
purged. Secrets are never stored here: each account reads its own environment variables (account_env.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

from sqlalchemy import Connection, delete, select, update

from growthloop.account_env import account_key
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import account_leases, accounts, metadata
from growthloop.config import Settings, load_settings
from growthloop.errors import UsageError

PLATFORMS: tuple[str, ...] = get_args(Settings.model_fields["platform"].annotation)  # sim, x, mastodon, bluesky
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Account:
    name: str
    platform: str
    world: str | None  # the simulator's world file (absolute path); None: the settings' or the default world
    config: str | None  # the account's settings file (absolute path); None: the deployment's settings
    paused_at: datetime | None
    created_at: datetime
    paused_by: str | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "platform": self.platform,
            "world": self.world,
            "config": self.config,
            "paused_at": self.paused_at.isoformat() if self.paused_at else None,
            "paused_by": self.paused_by,
            "created_at": self.created_at.isoformat(),
        }


def _account(row: Any) -> Account:
    return Account(
        name=row.name,
        platform=row.platform,
        world=row.world,
        config=row.config_path,
        paused_at=row.paused_at,
        created_at=row.created_at,
        paused_by=row.paused_by,
    )


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UsageError(
            f"account name {name!r}: use 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


def _file(path: str | Path, what: str) -> str:
    """An existing file, as an absolute path: workers may start in another directory."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"{what} {str(path)!r}: no such file")
    return str(p.resolve())


def add_account(
    store: SqlStore,
    name: str,
    platform: str,
    world: str | Path | None,
    config: str | Path | None,
    now: datetime,
) -> Account:
    """Register an account. A bad name, platform, world or settings file, or a name taken (or one that would
    read another account's secrets), is a UsageError or ConfigError, and nothing is written."""
    from growthloop.adapters.platforms.sim.world import load_world  # the simulator: only for a world file

    check_name(name)
    if platform not in PLATFORMS:
        raise UsageError(f"platform {platform!r}: use one of {', '.join(PLATFORMS)}")
    world_path = None
    if world is not None:
        if platform != "sim":
            raise UsageError(f"a world file is for the simulated platform (sim), not {platform}")
        world_path = _file(world, "world file")
        load_world(world_path)  # a world that does not parse is refused here, with its one-line error
    config_path = None
    if config is not None:
        config_path = _file(config, "settings file")
        load_settings(config_path, account=name, platform=platform)  # refused here rather than in a worker
    with store.begin() as conn:
        rows = conn.execute(select(accounts.c.name, accounts.c.removed_at)).all()
        for row in rows:
            if row.name == name:
                hint = (
                    f"it was removed {row.removed_at:%Y-%m-%d %H:%M} UTC and its data kept; "
                    f"`growthloop accounts remove {name} --purge` deletes it"
                    if row.removed_at
                    else "pick another name"
                )
                raise UsageError(f"account {name!r} exists already; {hint}")
            if account_key(row.name) == account_key(name):
                raise UsageError(
                    f"account name {name!r} would share its secrets' variables (GROWTHLOOP_ACCOUNTS__"
                    f"{account_key(name)}__...) with account {row.name!r}; pick another name"
                )
        conn.execute(
            accounts.insert().values(
                name=name, platform=platform, world=world_path, config_path=config_path, created_at=now
            )
        )
    return get_account(store, name)


def _row(conn: Connection, name: str) -> Any:
    return conn.execute(select(accounts).where(accounts.c.name == name)).first()


_KNOWN = select(accounts.c.name).where(accounts.c.removed_at.is_(None)).order_by(accounts.c.name)


def get_account(store: SqlStore, name: str) -> Account:
    """The account named; an unknown or removed one is a UsageError naming it."""
    with store.connect() as conn:
        row = _row(conn, name)
        known = [] if row else list(conn.execute(_KNOWN).scalars())
    if row is None:
        listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "") if known else "none"
        raise UsageError(f"unknown account {name!r} (accounts: {listed}); add it with `growthloop accounts add {name}`")
    if row.removed_at is not None:
        raise UsageError(f"account {name!r} was removed {row.removed_at:%Y-%m-%d %H:%M} UTC (its data is kept)")
    return _account(row)


def list_accounts(store: SqlStore) -> list[Account]:
    """Every account not removed, by name."""
    with store.connect() as conn:
        rows = conn.execute(select(accounts).where(accounts.c.removed_at.is_(None)).order_by(accounts.c.name)).all()
    return [_account(r) for r in rows]


def active_accounts(store: SqlStore) -> list[Account]:
    """The accounts whose jobs run: neither paused nor removed."""
    return [a for a in list_accounts(store) if not a.paused]


def pause_account(store: SqlStore, name: str, now: datetime, by: str) -> Account:
    """Stop every job of the account from its next due slot on, until `resume_account`. Pausing a paused
    account keeps its first pause."""
    if not 0 < len(by) <= 64:
        raise UsageError("who pauses: give a name of 1 to 64 characters")
    account = get_account(store, name)
    if account.paused:
        return account
    with store.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.name == name).values(paused_at=now, paused_by=by))
    return get_account(store, name)


def resume_account(store: SqlStore, name: str) -> Account:
    get_account(store, name)
    with store.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.name == name).values(paused_at=None, paused_by=None))
    return get_account(store, name)


def remove_account(store: SqlStore, name: str, purge: bool, now: datetime) -> int:
    """Remove the account: its jobs stop and it leaves the lists, its rows stay. With `purge`, every row of the
    account is deleted (refused while a live process holds its lease). Returns the rows deleted (0 unless
    purged). A removed account can still be purged."""
    from growthloop.jobs.lease import holder_alive, read_holder

    with store.connect() as conn:
        row = _row(conn, name)
    if row is None or (row.removed_at is not None and not purge):
        get_account(store, name)  # raises, naming the account
    if not purge:
        with store.begin() as conn:
            conn.execute(update(accounts).where(accounts.c.name == name).values(removed_at=now))
        return 0
    with store.begin() as conn:
        holder = read_holder(conn, name)
        if holder is not None and holder_alive(holder, now):
            raise UsageError(
                f"account {name!r} is running ({holder.describe()}); pause it and stop that process before a purge"
            )
        deleted = 0
        for table in reversed(metadata.sorted_tables):  # children before the accounts row they refer to
            if table is accounts or "account" not in table.c:
                continue
            deleted += conn.execute(delete(table).where(table.c.account == name)).rowcount or 0
        conn.execute(delete(accounts).where(accounts.c.name == name))
        conn.execute(delete(account_leases).where(account_leases.c.account == name))
    return deleted + 1


def settings_for(account: Account, base: Settings) -> Settings:
    """The account's own settings: its settings file when it has one (else `base`), with the account's name,
    platform and world over it and `base`'s database. Its secrets are the account's own variables
    (account_env.py), unless it is `base`'s own account."""
    if account.config:
        settings = load_settings(
            account.config,
            database_url=base.database_url,
            account=account.name,
            platform=account.platform,
            world=account.world,
        )
    else:
        update_: dict[str, Any] = {"account": account.name, "platform": account.platform}
        if account.world:
            update_["world"] = account.world
        settings = base.model_copy(update=update_)
    settings._secrets_account = None if account.name == base.account else account.name
    return settings


__all__ = [
    "NAME_PATTERN",
    "PLATFORMS",
    "Account",
    "active_accounts",
    "add_account",
    "check_name",
    "get_account",
    "list_accounts",
    "pause_account",
    "remove_account",
    "resume_account",
    "settings_for",
]
