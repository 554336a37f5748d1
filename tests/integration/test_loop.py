"""The whole loop on both databases: two simulated days through the real scheduler and jobs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import (
    content_metadata,
    follower_snapshots,
    job_runs,
    metric_snapshots,
    performance_tables,
    post_attribution,
)
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, POSTED
from growthloop.loop.learn import learn_performance
from growthloop.report import max_in_rolling_hour
from growthloop.simulation import plan_simulation, run_simulation
from tests.conftest import START, Loop
from tests.data_files import data_file


@pytest.fixture
def two_days(db_url: str, request: pytest.FixtureRequest) -> Loop:
    """Two days of the loop: a copy of the session's simulated two days, on SQLite or on PostgreSQL."""
    name = "simulated" if db_url.startswith("sqlite") else "simulated_pg"
    simulated: Callable[[float], Loop] = request.getfixturevalue(name)
    return simulated(48)


def _count(store: SqlStore, query: object) -> int:
    with store.connect() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


def test_two_days_of_the_loop_keep_every_invariant(two_days: Loop) -> None:
    store, cm = two_days.store, content_metadata
    with store.connect() as conn:
        posted = conn.execute(select(cm).where(cm.c.status == POSTED, cm.c.kind == "post")).all()
        runs = conn.execute(select(job_runs.c.status, func.count()).group_by(job_runs.c.status)).all()
    assert len(posted) >= 90  # 2 per hour for 48 hours, less the first hour's warm-up
    assert max_in_rolling_hour([r.posted_at for r in posted]) <= 2
    assert all(r.tweet_id and r.posted_at for r in posted)
    assert all(all(getattr(r, d) for d in DIMENSIONS) for r in posted)
    assert all(0 < r.propensity <= 1 and set(r.propensities) == set(DIMENSIONS) for r in posted)
    assert dict(runs) == {"succeeded": dict(runs)["succeeded"]}  # no failed, timed-out or stuck run
    snapshots = _count(store, select(func.count()).select_from(follower_snapshots))
    assert snapshots == 48 * 4 + 1
    with store.connect() as conn:
        everything = conn.execute(select(cm).where(cm.c.status == POSTED)).all()  # replies are attributed too
    older = [r.decision_id for r in everything if r.posted_at <= START + timedelta(hours=46)]
    attributed = _count(
        store, select(func.count()).select_from(post_attribution).where(post_attribution.c.decision_id.in_(older))
    )
    assert attributed == len(older)
    assert _count(store, select(func.count()).select_from(metric_snapshots)) > len(everything) * 3
    learned_from = _count(  # the model is of posts: replies are attributed but not learned from
        store,
        select(func.count())
        .select_from(post_attribution.join(cm, cm.c.decision_id == post_attribution.c.decision_id))
        .where(post_attribution.c.attributed_followers.is_not(None), cm.c.kind == "post"),
    )
    for dim, table in performance_tables.items():
        assert _count(store, select(func.coalesce(func.sum(table.c.uses), 0))) == learned_from, dim


def _tables(store: SqlStore) -> dict[str, list[tuple[object, ...]]]:
    with store.connect() as conn:
        return {
            dim: [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))] for dim, t in performance_tables.items()
        }


def test_learning_twice_leaves_every_table_identical(two_days: Loop) -> None:
    w = two_days.wiring
    two_days.clock.advance(3600)
    learn_performance(w.store, w.platform, w.generator, w.clock, w.account, w.settings, records=w.records)
    first = _tables(w.store)
    two_days.clock.advance(3600)
    learn_performance(w.store, w.platform, w.generator, w.clock, w.account, w.settings, records=w.records)
    assert _tables(w.store) == first
    assert all(first.values())


def test_missing_follower_data_is_missing_with_a_reason(loop: Loop) -> None:
    """I2: with follower tracking switched off, nothing is made up."""
    settings = loop.settings.model_copy(
        update={
            "jobs": {
                **loop.settings.jobs,
                "followers": loop.settings.jobs["followers"].model_copy(update={"enabled": False}),
            }
        }
    )
    loop.wiring.settings = settings
    loop.scheduler.sync_schedule(START)
    loop.run_for(6)
    with loop.store.connect() as conn:
        rows = conn.execute(select(post_attribution)).all()
    assert rows
    for r in rows:
        assert r.followers_before is None and r.attributed_followers is None
        assert r.missing_reason and "no follower" in r.missing_reason


SEED_AUDIT = data_file("seed/audit-queries.md")  # the audit's SQL blocks, verbatim


def _seed_queries() -> list[str]:
    if not SEED_AUDIT.is_file():
        pytest.fail(f"the seed's audit is missing at {SEED_AUDIT}")
    blocks = re.findall(r"```sql\n(.*?)```", SEED_AUDIT.read_text(encoding="utf-8"), flags=re.S)
    statements = [s.strip() for block in blocks for s in block.split(";")]
    return [s for s in statements if any(line.strip() and not line.strip().startswith("--") for line in s.splitlines())]


@pytest.mark.postgres
def test_the_seeds_diagnostic_sql_runs_unchanged_on_postgres(pg_url: str) -> None:
    """The operators' queries of the audit ("LET'S TEST", "Check What Posts Are Available",
    "Option 1", ...) run verbatim and answer sensibly after a simulated run that ends now."""
    store = SqlStore(pg_url)
    store.upgrade()
    settings = Settings(database_url=pg_url)
    now = datetime.now(UTC).replace(microsecond=0)
    plan = plan_simulation(None, 11, 3, now - timedelta(days=3))
    run_simulation(store, settings, plan, resume=False)
    queries = _seed_queries()
    assert len(queries) >= 8
    answers = {}
    with store.connect() as conn:
        for q in queries:
            answers[q] = conn.execute(text(q)).all()
    lets_test = next(a for q, a in answers.items() if "hours_ago" in q)
    assert len(lets_test) == 10
    assert all(r.status == "posted" and r.tweet_id and 0 <= r.hours_ago < 48 for r in lets_test)
    available = next(a for q, a in answers.items() if "INTERVAL '2 hours'" in q)
    with store.connect() as conn:
        db_now = conn.execute(text("SELECT NOW()")).scalar_one()
        posted = conn.execute(
            select(content_metadata.c.posted_at, content_metadata.c.kind).where(content_metadata.c.status == POSTED)
        ).all()
    in_window = [p for p in posted if db_now - timedelta(hours=48) < p.posted_at < db_now - timedelta(hours=2)]
    assert len(available) == len(in_window)
    assert 80 <= sum(1 for p in in_window if p.kind == "post") <= 92  # 2 posts an hour over those 46 hours
    by_status = dict(next(a for q, a in answers.items() if "GROUP BY status" in q))
    assert by_status["posted"] >= 140
    with_ids = next(a for q, a in answers.items() if "tweet_id IS NOT NULL" in q and "COUNT" in q)
    assert with_ids[0][0] >= 140
    attribution = next(a for q, a in answers.items() if "COUNT(*) FROM post_attribution" in q)
    assert attribution[0][0] >= 140
    angle = next(a for q, a in answers.items() if "angle_performance" in q)
    assert len(angle) == 5
    store.dispose()
