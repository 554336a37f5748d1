"""The Clock port's contract, run over every clock: the virtual clock and the real one.

What every job may rely on, whatever the clock: `now()` is an aware UTC time and never goes backwards;
`sleep_until(when)` returns with `now() >= when`, at once when `when` has passed; a naive time is refused
(a ValueError), since a naive time compared with an aware one is a bug waiting for a time zone.
The real clock's sleeps here are a few milliseconds. New clocks join by adding a case to `CLOCKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from growthloop.adapters.clocks import RealClock, VirtualClock
from growthloop.ports import Clock
from tests.conftest import START

CLOCKS: dict[str, Callable[[], Clock]] = {"virtual": lambda: VirtualClock(START), "real": RealClock}
SHORT = timedelta(milliseconds=20)


@pytest.fixture(params=sorted(CLOCKS))
def clock(request: pytest.FixtureRequest) -> Clock:
    return CLOCKS[request.param]()


def test_it_implements_the_port(clock: Clock) -> None:
    assert isinstance(clock, Clock)


def test_now_is_aware_utc_and_never_goes_backwards(clock: Clock) -> None:
    times = [clock.now() for _ in range(50)]
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert times == sorted(times)


def test_sleeping_until_a_time_ends_at_or_after_it(clock: Clock) -> None:
    target = clock.now() + SHORT
    clock.sleep_until(target)
    assert clock.now() >= target


def test_sleeping_until_a_past_time_returns_at_once_and_keeps_the_time(clock: Clock) -> None:
    before = clock.now()
    clock.sleep_until(before - timedelta(hours=1))
    after = clock.now()
    assert before <= after < before + timedelta(seconds=1)


def test_a_time_in_another_zone_is_the_same_instant(clock: Clock) -> None:
    here = clock.now() + SHORT
    clock.sleep_until(here.astimezone(timezone(timedelta(hours=-5))))
    assert clock.now() >= here


def test_a_naive_time_is_refused(clock: Clock) -> None:
    naive = (clock.now() + SHORT).replace(tzinfo=None)
    assert naive.tzinfo is None
    with pytest.raises(ValueError, match="naive"):
        clock.sleep_until(naive)
    with pytest.raises(ValueError, match="naive"):
        clock.sleep_until(datetime(2026, 3, 2, 9, 0))
    assert clock.now().tzinfo is UTC or clock.now().utcoffset() == timedelta(0)
