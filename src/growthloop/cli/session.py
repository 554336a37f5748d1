"""What one command works on: its settings, its store and its clock, each made once.

The root callback puts a `Session` on Typer's context before the command's options are read; the
`--config`, `--db` and `--account` options of every command note their values on it as they are parsed
(`remember`), and the command asks it for the settings and the store when it needs them. So a mistake in
the command's own arguments is refused before any settings file is read, as it always was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from growthloop.adapters.clocks import RealClock, VirtualClock
from growthloop.adapters.store.store import SqlStore
from growthloop.bootstrap import open_store, wire_live, wire_simulation
from growthloop.config import Settings, load_settings
from growthloop.jobs.scheduler import Scheduler
from growthloop.simulation import has_simulation, load_plan


def database_url(db: str | None) -> str | None:
    """A bare path means a SQLite file; anything with '://' is a URL."""
    if db is None:
        return None
    return db if "://" in db else f"sqlite:///{db}"


def settings_from(config: Path | None, db: str | None, account: str | None, **overrides: Any) -> Settings:
    return load_settings(config, database_url=database_url(db), account=account, **overrides)


class Session:
    """The settings and the store of one command, built on first use from the options it was given."""

    def __init__(self) -> None:
        self.config: Path | None = None
        self.db: str | None = None
        self.account: str | None = None
        self._overrides: dict[str, Any] = {}
        self._settings: Settings | None = None
        self._store: SqlStore | None = None

    def override(self, **values: Any) -> None:
        """A command's own option that sets a setting (as `run --metrics-port`): given before the settings are read."""
        if self._settings is not None:
            raise RuntimeError("the settings were read before the command's overrides were given")
        self._overrides.update(values)

    @property
    def settings(self) -> Settings:
        """The settings file, GROWTHLOOP_* variables and options: any problem is one ConfigError."""
        if self._settings is None:
            self._settings = settings_from(self.config, self.db, self.account, **self._overrides)
        return self._settings

    def open_store(self, *, readonly: bool = False, check: bool = True) -> SqlStore:
        """Open the store, once: `readonly` for the commands that only show, `check=False` for those that
        create or migrate the schema."""
        if self._store is not None:
            raise RuntimeError("the store is open already")
        self._store = open_store(self.settings, check=check, readonly=readonly)
        return self._store

    @property
    def store(self) -> SqlStore:
        if self._store is None:
            raise RuntimeError("open_store() first")
        return self._store

    def clock(self) -> VirtualClock | RealClock:
        """A simulation's database is judged at its virtual time; any other at the real time."""
        account = self.settings.account
        if has_simulation(self.store, account):
            _, now = load_plan(self.store, account)
            return VirtualClock(now)
        return RealClock()

    def scheduler(self) -> Scheduler:
        """The account's scheduler as `run` or `simulate` wires it (a bad world or writer setting is refused
        here, before anything is written)."""
        store, settings = self.store, self.settings
        if has_simulation(store, settings.account):
            plan, now = load_plan(store, settings.account)
            wiring, _, _ = wire_simulation(
                settings.model_copy(update={"seed": plan.world.seed}), store, plan.world, plan.start, now
            )
        else:
            wiring = wire_live(settings, store, self.clock(), save_origin=False)
        return Scheduler(wiring)


def session(ctx: typer.Context) -> Session:
    return ctx.ensure_object(Session)


def remember(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """The callback of --config, --db and --account: notes the value on the command's Session."""
    if param.name not in ("config", "db", "account"):
        raise ValueError(f"remember: not an option a Session keeps: {param.name}")
    setattr(session(ctx), param.name, value)
    return value
