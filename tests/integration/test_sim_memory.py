"""The simulated platform's memory of its own rows (adapters/platforms/sim/platform.py).

It keeps what it wrote to `sim_posts` and `sim_follower_events` and reads only the account's rows after the
newest it holds, on the (account, id) index: so a table that many accounts share costs an account only its
own new rows, a second process taking the account over sees everything the first wrote, and a transaction
that did not commit leaves nothing in memory that the database does not hold.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from growthloop.adapters.platforms.sim import platform as sim
from growthloop.adapters.platforms.sim.world import default_world_path, parse_world
from growthloop.adapters.store.store import SqlStore
from growthloop.bootstrap import ensure_account
from growthloop.config import Settings
from growthloop.domain import PublishRequest
from tests.conftest import START

WORLD = parse_world(default_world_path().read_text(), "memory-world")


def _platform(store: SqlStore, settings: Settings, account: str) -> sim.SimPlatform:
    ensure_account(store, settings.model_copy(update={"account": account}), START)
    return sim.SimPlatform(store, account, WORLD, START)


def _post(platform: sim.SimPlatform, n: int, hours: float) -> None:
    platform.publish(
        PublishRequest(f"{platform.account}-{n}", (f"Post {n} of {platform.account}.",)), START + timedelta(hours=hours)
    )


def _known(platform: sim.SimPlatform, store: SqlStore) -> list[str]:
    with store.connect() as conn:
        return list(platform._known_posts(conn).ids)


def test_another_accounts_rows_are_not_read_and_a_second_process_sees_all(
    store: SqlStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _platform(store, settings, "acct-a"), _platform(store, settings, "acct-b")
    for n in range(3):
        _post(a, n, n)
        _post(b, n, n)
    assert _known(a, store) == ["acct-a.1", "acct-a.2", "acct-a.3"]
    read: list[int] = []
    after = sim._POSTS_AFTER

    class Counting:
        def run(self, *args: Any, **kwargs: Any) -> Any:
            rows = after.run(*args, **kwargs)
            read.append(len(rows.all()))
            return rows

    with monkeypatch.context() as patch:
        patch.setattr(sim, "_POSTS_AFTER", Counting())
        _post(b, 3, 4)
        assert _known(a, store) == ["acct-a.1", "acct-a.2", "acct-a.3"]
    assert read == [0, 0], "an account read rows it already held, or another account's"
    # a second process taking the account over (after the first let its lease go) sees every post and event
    again = sim.SimPlatform(store, "acct-a", WORLD, START)
    _post(again, 3, 4)
    assert _known(a, store) == ["acct-a.1", "acct-a.2", "acct-a.3", "acct-a.4"]
    now = START + timedelta(days=2)
    fresh = sim.SimPlatform(store, "acct-a", WORLD, START)
    assert a.follower_count(now) == again.follower_count(now) == fresh.follower_count(now)


def test_events_of_a_transaction_that_did_not_commit_are_forgotten(
    store: SqlStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = _platform(store, settings, "acct-a")
    now = START + timedelta(days=1)
    platform.follower_count(now)  # the first day's organic events, held in memory

    class Failing:
        def run(self, *_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("the connection went away")

    with monkeypatch.context() as patch:
        patch.setattr(sim, "_EVENTS_MARK", Failing())  # fails after the events were written and kept
        with pytest.raises(RuntimeError):
            platform.follower_count(START + timedelta(days=3))
    later = START + timedelta(days=3)
    assert platform.follower_count(later) == sim.SimPlatform(store, "acct-a", WORLD, START).follower_count(later)
