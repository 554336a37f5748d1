"""Which price table a platform is charged by, and the metered wrapper around it (called from bootstrap)."""

from __future__ import annotations

from typing import Any

from growthloop.adapters.store.store import SqlStore
from growthloop.config import Settings
from growthloop.ports import Platform
from growthloop.spend.prices import PriceTable, price_table


def priced_as(platform: Platform) -> str:
    """The platform whose prices apply: the simulator charges those of the platform it imitates (its world's
    `platform`, X by default), so budgets and degradation run on virtual time."""
    if platform.name == "sim":
        world: Any = getattr(platform, "world", None)
        return str(getattr(world, "platform", "x") or "x")
    return platform.name


def table_for(settings: Settings, platform: Platform) -> PriceTable:
    return price_table(priced_as(platform), settings.spend.prices)


def metered(settings: Settings, store: SqlStore, platform: Platform) -> Platform:
    from growthloop.adapters.platforms.metered import MeteredPlatform

    if isinstance(platform, MeteredPlatform):
        return platform
    return MeteredPlatform(platform, store, settings.account, table_for(settings, platform), settings.spend)
