"""The composition root: the only place that chooses adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from growthloop.adapters.clocks import RealClock, VirtualClock
from growthloop.adapters.generators.offline import OfflineGenerator
from growthloop.adapters.platforms.dry_run import DryRunPlatform
from growthloop.adapters.platforms.sim.platform import SimPlatform
from growthloop.adapters.platforms.sim.world import World, default_world_path, load_world
from growthloop.adapters.store.records import SqlRecords
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts
from growthloop.config import Settings
from growthloop.errors import ConfigError
from growthloop.jobs import lease
from growthloop.jobs.runner import Wiring
from growthloop.loop.history import LearningCache
from growthloop.ports import Clock, Connection, Generator, Platform
from growthloop.spend.x_usage import XUsage

if TYPE_CHECKING:
    import requests


def open_store(settings: Settings, check: bool = True, readonly: bool = False) -> SqlStore:
    """`readonly` for commands that only show: they can neither create the database nor write to it."""
    store = SqlStore(settings.database_url, readonly=readonly)
    if check:
        store.check_schema()
    return store


class _AccountLease:
    """The post stage's view of the account lease (ports.LeaseCheck), kept by jobs/lease.py."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def live_token(self, conn: Connection, account: str) -> str | None:
        return lease.live_token(conn, account)

    def verify_held(self, conn: Connection, account: str) -> str | None:
        return lease.verify_held(conn, self.store, account)


def make_records(store: SqlStore) -> SqlRecords:
    """The stages' records on `store` (ports.Records), with the account lease's check: built once per wiring,
    so that what they keep belongs to the wiring."""
    return SqlRecords(store, _AccountLease(store))


def ensure_account(store: SqlStore, settings: Settings, now: datetime) -> None:
    with store.begin() as conn:
        if conn.execute(select(accounts.c.name).where(accounts.c.name == settings.account)).first() is None:
            conn.execute(accounts.insert().values(name=settings.account, platform=settings.platform, created_at=now))


def account_names(store: SqlStore) -> list[str]:
    with store.connect() as conn:
        names = select(accounts.c.name).where(accounts.c.removed_at.is_(None))  # removed: data kept, not listed
        return list(conn.execute(names.order_by(accounts.c.name)).scalars())


def make_generator(settings: Settings, store: SqlStore, clock: Clock) -> Generator:
    if settings.generator == "llm":
        from growthloop.adapters.generators.llm.prompting import Prompts
        from growthloop.adapters.generators.llm.writer import LlmGenerator  # loads the openai SDK: only when used

        missing = Prompts(settings.llm.prompts_dir).missing_personas(settings.buckets["generator"])
        if missing:
            raise ConfigError("settings", "llm.prompts_dir", f"no prompt file for the personas {', '.join(missing)}")
        return LlmGenerator(store, settings.account, clock, settings.llm)
    return OfflineGenerator(seed=settings.seed or 0)


def make_clock(at: datetime | None = None) -> Clock:
    """The real clock, or with `at` a virtual one standing at that time (a simulation's database is judged at its
    virtual time; a check that must not move time reads a clock that stays)."""
    return real_clock() if at is None else VirtualClock(at)


def real_clock() -> RealClock:
    """The wall clock, for the daemon: its `wake` event ends a sleep early when the daemon is told to stop."""
    return RealClock()


def wire_simulation(
    settings: Settings, store: SqlStore, world: World, start: datetime, now: datetime | None = None
) -> tuple[Wiring, SimPlatform, VirtualClock]:
    clock = VirtualClock(now or start)
    platform = SimPlatform(store, settings.account, world, start)
    return _wire(settings, store, platform, clock), platform, clock


def load_world_for(path: str | None) -> World:
    return load_world(path or default_world_path())


def live_origin(store: SqlStore, settings: Settings, now: datetime, save: bool = True) -> datetime:
    """Day 0 of the simulated platform behind `run`, kept so that a restart continues the same world."""
    with store.begin() as conn:
        stored = store.get_state(conn, settings.account, "live_sim_start")
        if stored is None:
            if save:
                store.set_state(conn, settings.account, "live_sim_start", now.isoformat())
            return now
    return datetime.fromisoformat(stored)


def make_platform(settings: Settings, store: SqlStore, clock: Clock, save_origin: bool = True) -> Platform:
    """The daemon's platform: X, Mastodon or Bluesky (in dry-run mode until `live = true`), or the simulator on
    real time."""
    if settings.platform == "x":
        from growthloop.adapters.platforms.x import XCredentials, XPlatform  # loads the SDK: only when used

        x = settings.x
        platform: Platform = XPlatform(
            XCredentials.from_env(account=settings.secrets_account),
            clock,
            base_url=x.base_url,
            user_id=x.user_id,
            account=settings.account,
            max_wait=timedelta(seconds=x.max_wait),
            timeout=x.timeout,
            search=x.search,
            owned_window=timedelta(hours=settings.spend.owned_window_hours),  # owned reads (spend/)
        )
        return platform if settings.live else DryRunPlatform(platform)
    if settings.platform == "mastodon":
        return make_mastodon(settings, clock)
    if settings.platform == "bluesky":
        return make_bluesky(settings, clock)
    world = load_world_for(settings.world)  # a bad world file is refused before the origin is written
    origin = live_origin(store, settings, clock.now(), save=save_origin)
    return SimPlatform(store, settings.account, world, origin)


def read_x_usage(
    base_url: str,
    token: str,
    days: int = 7,
    timeout: float = 30.0,
    session_setup: Callable[[requests.Session], None] | None = None,
) -> XUsage:
    """X's daily Post consumption over the last `days` days, through the X adapter (doctor's usage check)."""
    from growthloop.adapters.platforms.x.usage import read_usage  # loads the SDK: only when used

    return read_usage(base_url, token, days, timeout, session_setup)


def make_mastodon(settings: Settings, clock: Clock) -> Platform:
    """Mastodon (dry run until `live = true`), connected: the instance's length rule read, the token checked."""
    from growthloop.adapters.platforms.mastodon import MastodonCredentials, MastodonPlatform  # loads the SDK

    m = settings.mastodon
    if not m.base_url:
        raise ConfigError(
            "settings", "mastodon.base_url", "not set: the account's instance, e.g. https://mastodon.social"
        )
    platform = MastodonPlatform(
        MastodonCredentials.from_env(account=settings.secrets_account),
        clock,
        base_url=m.base_url,
        account=settings.account,
        max_wait=timedelta(seconds=m.max_wait),
        timeout=m.timeout,
        search=m.search,
    )
    platform.connect()
    return platform if settings.live else DryRunPlatform(platform)


def make_bluesky(settings: Settings, clock: Clock) -> Platform:
    """Bluesky (dry run until `live = true`), logged in: a refused app password or a wrong base URL is a
    configuration error naming the variable or the setting."""
    from growthloop.adapters.platforms.bluesky import BlueskyCredentials, BlueskyPlatform  # loads the SDK

    b = settings.bluesky
    platform = BlueskyPlatform(
        BlueskyCredentials.from_env(account=settings.secrets_account),
        clock,
        base_url=b.base_url,
        account=settings.account,
        timeout=b.timeout,
        search=b.search,
    )
    platform.connect()
    return platform if settings.live else DryRunPlatform(platform)


def wire_live(settings: Settings, store: SqlStore, clock: Clock | None = None, save_origin: bool = True) -> Wiring:
    """The daemon's wiring, on the real clock unless told otherwise."""
    clock = clock or RealClock()
    return _wire(settings, store, make_platform(settings, store, clock, save_origin), clock)


def _wire(settings: Settings, store: SqlStore, platform: Platform, clock: Clock) -> Wiring:
    from growthloop.adapters.platforms.metered import metered  # every platform call priced and recorded

    return Wiring(
        store=store,
        platform=metered(settings, store, platform),
        generator=make_generator(settings, store, clock),
        clock=clock,
        account=settings.account,
        settings=settings,
        records=make_records(store),
        learning=LearningCache(),
    )
