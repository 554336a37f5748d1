"""Clock adapters: the real wall clock, and a virtual clock that the simulator and tests step."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: clocks deal only in aware UTC times")
    return when.astimezone(UTC)


class RealClock:
    """The wall clock. A sleep ends early when `wake` is set (a daemon's stop signal)."""

    def __init__(self) -> None:
        self.wake = threading.Event()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep_until(self, when: datetime) -> None:
        delay = (_aware(when) - self.now()).total_seconds()
        if delay > 0:
            self.wake.wait(delay)


class VirtualClock:
    """Time moves only when told to; sleeping is instant. Never goes backwards."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)

    def now(self) -> datetime:
        return self._now

    def sleep_until(self, when: datetime) -> None:
        when = _aware(when)
        if when > self._now:
            self._now = when

    def advance(self, seconds: float) -> None:

        self._now += timedelta(seconds=seconds)
