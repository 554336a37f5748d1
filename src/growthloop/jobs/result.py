"""What a job returns to the runner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class JobResult:
    items_in: int
    items_out: int
    # Why a run that had input produced nothing, when that is expected (e.g. "rate limit").
    # A run with input, no output and no reason is flagged in its run record (I1).
    idle_reason: str | None = None
    # A run may ask to be woken earlier than its interval (the post job, when the rate limit frees).
    # Never later: recurrence does not depend on a previous run (I7).
    wake_at: datetime | None = None
