"""The price table: what one request or one returned resource costs, per platform and price category.

X's self-serve API is pay-per-use since 2026-02-06. The defaults below are X's published prices as of
2026-08-22 (the X developer documentation, `x-api/getting-started/pricing.mdx`, "Credit consumption
details" and "Owned Reads"); X says prices are subject to change and the Developer Console is current.
Mastodon and Bluesky charge nothing for their APIs: their tables are empty (free) unless configured.

Prices are kept as integer micro-dollars (1 USD = 1,000,000): sums over a month are then exact, and a
recount from the recorded calls equals the totals to the cent (and below).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

MICROS = 1_000_000
PRICES_DATE = "2026-08-22"
PRICES_SOURCE = "X developer documentation, x-api/getting-started/pricing.mdx (Credit consumption details, Owned Reads)"


@dataclass(frozen=True)
class Category:
    """One line of a price table: what it charges for, and whether per request or per resource returned."""

    name: str
    per: str  # "request" or "resource"
    what: str


# The categories growthloop's calls fall in (the names of X's pricing page, as keys of the table).
CATEGORIES: Mapping[str, Category] = MappingProxyType(
    {
        c.name: c
        for c in (
            Category("post_create", "request", "Post: Create (a post, or a thread's next part)"),
            Category("post_create_url", "request", "Post: Create (with URL): a post whose text carries a link"),
            Category(
                "post_create_summoned", "request", "Post: Create (summoned): a reply where the account was summoned"
            ),
            Category("post_read", "resource", "Posts: Read (lookup by id, search): per post returned"),
            Category("user_read", "resource", "User: Read (users/me, expanded authors): per user returned"),
            Category("owned_read", "resource", "Owned Reads (the account's own posts, mentions, followers)"),
            Category("followers_read", "resource", "Following/Followers: Read (someone else's)"),
            Category("usage_read", "request", "GET /2/usage/tweets (not on X's price list: 0 unless configured)"),
        )
    }
)

X_DEFAULT_PRICES: Mapping[str, float] = MappingProxyType(
    {
        "post_create": 0.015,
        "post_create_url": 0.200,
        "post_create_summoned": 0.010,
        "post_read": 0.005,
        "user_read": 0.010,
        "owned_read": 0.001,
        "followers_read": 0.010,
        "usage_read": 0.0,
    }
)

DEFAULT_PRICES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {"x": X_DEFAULT_PRICES, "mastodon": MappingProxyType({}), "bluesky": MappingProxyType({})}
)
PLATFORMS = tuple(DEFAULT_PRICES)


def to_micros(usd: float) -> int:
    return round(usd * MICROS)


def usd(micros: int) -> float:
    return micros / MICROS


def check_price(platform: str, category: str, value: object) -> float:
    """A price from the settings, or ValueError naming what is wrong with it."""
    if category not in CATEGORIES:
        raise ValueError(f"prices.{platform}: unknown endpoint {category!r} (known: {', '.join(CATEGORIES)})")
    if isinstance(value, str):  # the environment gives every value as text
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"prices.{platform}.{category}: {value!r} is not a number of dollars") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"prices.{platform}.{category}: {value!r} is not a number of dollars")
    price = float(value)
    if not math.isfinite(price) or price < 0:
        raise ValueError(f"prices.{platform}.{category}: {value!r} must be a finite price of at least 0 dollars")
    if price > 100:
        raise ValueError(f"prices.{platform}.{category}: {value!r} dollars per unit is beyond any API's price")
    return price


@dataclass(frozen=True)
class PriceTable:
    """One platform's prices in micro-dollars; a category missing from it is free."""

    platform: str
    micros: Mapping[str, int]

    def unit(self, category: str) -> int:
        return self.micros.get(category, 0)

    @property
    def free(self) -> bool:
        return not any(self.micros.values())


def price_table(platform: str, overrides: Mapping[str, Mapping[str, float]]) -> PriceTable:
    """`platform`'s defaults with the configured prices over them (validated by the settings already)."""
    merged = {**DEFAULT_PRICES.get(platform, {}), **overrides.get(platform, {})}
    return PriceTable(platform, MappingProxyType({k: to_micros(v) for k, v in merged.items()}))
