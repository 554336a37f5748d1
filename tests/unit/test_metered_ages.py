"""The metered wrapper keeps the posts' publishing times it has read (issue 10): the ages it prices metrics
reads with are those a fresh read of content_metadata gives, whichever way a post became known; and the
simulator's topic search, now drawn once per slot, returns what it drew before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import update

from growthloop.adapters.platforms.metered import MeteredPlatform
from growthloop.adapters.platforms.sim.chatter import _SEARCH, _STREAM, _text, search_results
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts, content_metadata
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, POSTED, SEARCH, Mention
from growthloop.spend.prices import price_table
from growthloop.spend.settings import SpendSettings

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _row(account: str, n: int, at: datetime | None, tweet_id: str | None) -> dict[str, Any]:
    return dict(
        account=account,
        decision_id=f"{account}-{n:07d}",
        status=POSTED if at is not None else "queued",
        tweet_id=tweet_id,
        posted_at=at,
        **dict.fromkeys(DIMENSIONS, "x"),
        content=f"post {n}",
        content_sha=f"{n:064d}",
        is_thread=False,
        policy="test",
        propensity=1.0,
        propensities={},
        created_at=NOW - timedelta(days=30),
        updated_at=NOW - timedelta(days=30),
    )


class _Named:
    name = "sim"  # _ages reads only the store


def _fresh(store: SqlStore, account: str, ids: list[str], now: datetime) -> dict[str, timedelta]:
    """What one read of content_metadata gives (the wrapper's read before it kept the times)."""
    cm = content_metadata
    with store.connect() as conn:
        rows = conn.execute(
            cm.select()
            .with_only_columns(cm.c.tweet_id, cm.c.posted_at)
            .where(cm.c.account == account, cm.c.tweet_id.in_(ids))
        ).all()
    return {r.tweet_id: now - r.posted_at for r in rows if r.posted_at is not None}


def test_kept_ages_equal_a_fresh_read(store: SqlStore, settings: Settings) -> None:
    account = settings.account
    with store.begin() as conn:
        for name in (account, "other"):
            conn.execute(accounts.insert().values(name=name, platform="sim", created_at=NOW - timedelta(days=30)))
        rows = [_row(account, n, NOW - timedelta(hours=n), str(100 + n)) for n in range(1, 6)]
        rows.append(_row(account, 40, NOW - timedelta(days=9), "140"))  # old: beyond the recent range
        rows.append(_row(account, 50, None, None))  # queued: no id, no time
        rows.append(_row("other", 60, NOW - timedelta(hours=1), "160"))  # another account's post
        conn.execute(content_metadata.insert(), rows)
    m = MeteredPlatform(_Named(), store, account, price_table("x", {}), SpendSettings())  # type: ignore[arg-type]
    asked = ["101", "102", "140", "160", "999"]
    assert m._ages(asked, NOW) == _fresh(store, account, asked, NOW) and "140" in m._ages(asked, NOW)
    later = NOW + timedelta(hours=2)
    with store.begin() as conn:
        conn.execute(content_metadata.insert(), [_row(account, 6, later - timedelta(minutes=5), "106")])
        # marked posted late, with a time older than the newest one already read (a reconciled post)
        conn.execute(
            update(content_metadata)
            .where(content_metadata.c.decision_id == f"{account}-{50:07d}")
            .values(status=POSTED, tweet_id="150", posted_at=NOW - timedelta(days=2))
        )
    asked = ["101", "103", "106", "150", "160", "999"]
    assert m._ages(asked, later) == _fresh(store, account, asked, later)
    assert set(m._ages(asked, later)) == {"101", "103", "106", "150"}


def _drawn(seed: int, query: str, now: datetime, injection_rate: float) -> list[Mention]:
    """The topic search as it was drawn before its slots were kept (each call drawing all four again)."""
    slot = timedelta(hours=6)
    epoch = datetime(2020, 1, 1, tzinfo=now.tzinfo)
    last = int((now - epoch) / slot)
    out = []
    for k in range(last - 3, last + 1):
        created = epoch + k * slot
        rng = np.random.default_rng([seed, _STREAM + 1, sum(query.encode()), k])
        created += timedelta(seconds=float(rng.uniform(0, slot.total_seconds())))
        if created > now:
            continue
        out.append(
            Mention(
                platform_id=f"search.{query}.{k}",
                kind=SEARCH,
                author=f"user{int(rng.integers(1_000_000))}",
                author_followers=int(np.exp(rng.normal(6.0, 1.8))),
                text=_text(rng, _SEARCH, query, injection_rate),
                created_at=created,
                likes=int(rng.poisson(4)),
                reposts=int(rng.poisson(1)),
                replies=int(rng.poisson(1)),
            )
        )
    return out


def test_search_results_are_those_drawn_before() -> None:
    for hours in range(0, 72, 1):
        now = NOW + timedelta(hours=hours, minutes=7 * hours % 60)
        for query, rate in (("sleep", 0.05), ("focus", 0.5)):
            assert search_results(7, query, now, rate) == _drawn(7, query, now, rate)
