"""What the simulated audience says to and around the account: replies and quotes of its posts (as
many as each post's counters), and posts on its topics by others, for the replies stage to find.

Deterministic from the world's seed, so a resumed simulation sees the same conversation. A share of the
messages (the world's `injection_rate`, one in twenty by default) is an injection attempt drawn from
`injections.toml` (role-play, "ignore previous instructions", encoded, split, homoglyphs, links, tickers,
requests to follow or DM, ...): untrusted text must never be followed.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import numpy as np

from growthloop.domain import MENTION, QUOTE, SEARCH, Mention

MENTION_WINDOW = timedelta(days=2)  # replies to a post arrive within two days
_STREAM = 7

_REPLIES = (
    "Is there a study behind this? Genuinely curious about {topic}.",
    "This matches my experience with {topic}, thanks for sharing.",
    "Not sure I agree on {topic}, what about people who work nights?",
    "Saving this. Anything similar for beginners?",
    "Source? I keep hearing the opposite about {topic}.",
)


@dataclass(frozen=True)
class Injection:
    kind: str
    text: str  # the mention as sent
    payload: str  # what a model that obeyed it would post


@cache
def injections() -> tuple[Injection, ...]:
    """The attack set, one of each kind, from injections.toml beside this module."""
    raw = tomllib.loads(resources.files(__package__).joinpath("injections.toml").read_text(encoding="utf-8"))
    attacks = tuple(Injection(a["kind"], a["text"], a["payload"]) for a in raw["attack"])
    if len({a.kind for a in attacks}) != len(attacks):
        raise ValueError("injections.toml: every attack must be of its own kind")
    return attacks


_SEARCH = (
    "Anyone else struggling with {topic} lately? Looking for tips that actually work.",
    "Hot take: most advice about {topic} is recycled nonsense.",
    "Week 3 of fixing my {topic} habits. Small wins so far.",
    "What's the single best evidence-based change for {topic}?",
)


def _text(rng: np.random.Generator, templates: tuple[str, ...], topic: str, injection_rate: float) -> str:
    if rng.random() < injection_rate:
        attacks = injections()
        return attacks[int(rng.integers(len(attacks)))].text
    return templates[int(rng.integers(len(templates)))].format(topic=topic)


def audience_mentions(
    seed: int,
    platform_id: str,
    seq: int,
    published_at: datetime,
    topic: str,
    outcome: dict[str, Any],
    injection_rate: float,
) -> list[Mention]:
    counts = ((MENTION, int(outcome.get("replies", 0))), (QUOTE, int(outcome.get("quotes", 0))))
    out = []
    for kind_index, (kind, n) in enumerate(counts):
        for j in range(n):
            rng = np.random.default_rng([seed, _STREAM, seq, kind_index, j])
            delay = min(float(rng.exponential(3 * 3600)), MENTION_WINDOW.total_seconds())
            out.append(
                Mention(
                    platform_id=f"{platform_id}.{kind}.{j}",
                    kind=kind,
                    author=f"user{int(rng.integers(1_000_000))}",
                    author_followers=int(math.exp(rng.normal(5.3, 1.5))),
                    text=_text(rng, _REPLIES, topic, injection_rate),
                    created_at=published_at + timedelta(seconds=delay),
                    likes=int(rng.poisson(1)),
                    reposts=int(rng.poisson(0.2)),
                    replies=int(rng.poisson(0.3)),
                )
            )
    return out


def search_results(seed: int, query: str, now: datetime, injection_rate: float) -> list[Mention]:
    slot = timedelta(hours=6)
    epoch = datetime(2020, 1, 1, tzinfo=now.tzinfo)
    last = int((now - epoch) / slot)
    key = sum(query.encode())
    out = []
    for k in range(last - 3, last + 1):
        found = _search_result(seed, query, key, k, epoch, injection_rate)
        if found.created_at <= now:
            out.append(found)
    return out


@lru_cache(maxsize=4096)
def _search_result(seed: int, query: str, key: int, k: int, epoch: datetime, injection_rate: float) -> Mention:
    """The post of slot `k` on `query`: drawn from its own stream, so the same whenever it is asked for (a
    search sees each slot's post four times, once it exists)."""
    slot = timedelta(hours=6)
    created = epoch + k * slot
    rng = np.random.default_rng([seed, _STREAM + 1, key, k])
    created += timedelta(seconds=float(rng.uniform(0, slot.total_seconds())))
    return Mention(
        platform_id=f"search.{query}.{k}",
        kind=SEARCH,
        author=f"user{int(rng.integers(1_000_000))}",
        author_followers=int(math.exp(rng.normal(6.0, 1.8))),
        text=_text(rng, _SEARCH, query, injection_rate),
        created_at=created,
        likes=int(rng.poisson(4)),
        reposts=int(rng.poisson(1)),
        replies=int(rng.poisson(1)),
    )
