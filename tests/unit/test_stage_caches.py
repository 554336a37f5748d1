"""What the stages keep between runs (issue 10) answers as a fresh read of the database does, whatever changed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from growthloop.adapters.store.records import SqlRecords
from growthloop.adapters.store.records import plan as plan_records
from growthloop.adapters.store.tables import content_metadata as cm
from growthloop.domain import POSTED, QUEUED, SKIPPED
from tests.conftest import Loop


def _same_recent(loop: Loop, kept: SqlRecords, n: int) -> list[tuple[str, str]]:
    """`kept`'s recent posts (n of them), the wiring's (the gate's 200) and a fresh read's agree."""
    with loop.store.connect() as conn:
        cached = [(r.topic, r.content) for r in kept.plan.latest(conn, "default", n)]
        wired = [(r.topic, r.content) for r in loop.wiring.records.plan.latest(conn, "default", 200)]
        fresh = [(r.topic, r.content) for r in SqlRecords(loop.store).plan.latest_fresh(conn, "default", n)]
        cold = [(r.topic, r.content) for r in SqlRecords(loop.store).plan.latest(conn, "default", n)]
        assert wired == [tuple(r) for r in SqlRecords(loop.store).plan.latest_fresh(conn, "default", 200)]
    assert cached == fresh == cold
    return cached


def _set_status(loop: Loop, row_id: int, status: str) -> None:
    with loop.store.begin() as conn:
        conn.execute(update(cm).where(cm.c.id == row_id).values(status=status))


def _ids(loop: Loop, *where: object) -> list[int]:
    with loop.store.connect() as conn:
        return list(conn.execute(select(cm.c.id).where(*where).order_by(cm.c.id)).scalars())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "margin"),
    [(200, plan_records.MARGIN), (5, plan_records.MARGIN), (5, 0)],  # every post kept; the newest few (and a margin)
)
def test_the_kept_recent_posts_are_those_of_a_fresh_read(
    simulated: Callable[[float], Loop], monkeypatch: pytest.MonkeyPatch, n: int, margin: int
) -> None:
    monkeypatch.setattr(plan_records, "MARGIN", margin)
    loop = simulated(30)
    kept = SqlRecords(loop.store)  # asked for n only, between the loop's runs
    first = _same_recent(loop, kept, n)
    assert len(first) == n if n == 5 else len(first) > 20
    for _ in range(3):  # new posts planned, posted, replied to
        loop.run_for(2)
        _same_recent(loop, kept, n)

    # queued posts skipped (they leave the set: older rows come in) and another posted
    queued = _ids(loop, cm.c.status == QUEUED)
    assert len(queued) >= 3
    _set_status(loop, queued[-1], SKIPPED)
    _set_status(loop, queued[0], POSTED)
    _same_recent(loop, kept, n)
    _set_status(loop, queued[-2], SKIPPED)
    _same_recent(loop, kept, n)

    # a person approves an old skipped draft: it becomes live below every row still moving
    skipped = _ids(loop, cm.c.status == SKIPPED)
    for row_id in (skipped[0], skipped[len(skipped) // 2], skipped[-1]):
        _set_status(loop, row_id, QUEUED)
        _same_recent(loop, kept, n)

    # every kept row but a few leaves the set: the rows below the kept ones are read again
    live = _ids(loop, cm.c.status.in_([QUEUED, POSTED]))
    for row_id in live[-(n + 40) :][-40:]:
        _set_status(loop, row_id, SKIPPED)
    _same_recent(loop, kept, n)
    loop.run_for(2)
    _same_recent(loop, kept, n)
