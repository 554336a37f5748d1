"""What one run of `attribute` and of `learn` costs after 30, 90 and 365 days of history (docs/learning.md).

    python -m growthloop.bench.stage_cost --days 30 90 365

For each length, a SQLite store is filled with that much history of the default world as the jobs would
have left it: 2 posts an hour chosen uniformly at random (the engine's draws), their metric snapshots at the
checkpoints, a follower snapshot every 15 minutes, and the final attribution rows of every post older than
48 h (the true follows stand in for attributed figures: learn's cost does not depend on their values).
Then the two jobs run as the scheduler runs them, at the end of the history and again 2 and 4 hours later
with the posts and snapshots of those hours added: the first run reads everything (a process starting up),
the later ones are what a running process pays every two hours. CPU time of the process in ms (SQLite
runs in it), so that other load on a shared machine does not count; ratios within one run are what to compare.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.platforms.sim.world import default_world_path, load_world
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, metric_snapshots, post_attribution
from growthloop.bench.engine import DAY, DEFAULT_START, EngineConfig, EngineRun
from growthloop.bootstrap import ensure_account, make_records
from growthloop.config import Settings
from growthloop.learning.blas import single_threaded_blas
from growthloop.loop.attribute import attribute_growth
from growthloop.loop.history import LearningCache
from growthloop.loop.learn import learn_performance

STEP = 2 * 3600.0  # the jobs' interval


def build(store: SqlStore, settings: Settings, days: float) -> tuple[EngineRun, datetime]:
    """A store with `days` of history (and 4 hours more in the engine, added by `add`); its end."""
    world = load_world(default_world_path())
    run = EngineRun(world, world.seed, "uniform", days + 4 * 3600 / DAY, EngineConfig(ope=False), DEFAULT_START)
    run.simulate()
    end = DEFAULT_START + timedelta(days=days)
    ensure_account(store, settings, DEFAULT_START)
    add(store, settings, run, DEFAULT_START.timestamp() - 1, end.timestamp(), attribution=True)
    return run, end


def add(
    store: SqlStore, settings: Settings, run: EngineRun, after: float, until: float, attribution: bool = False
) -> None:
    """The rows the other jobs would have written in (after, until], and with `attribution` the attribute
    job's final rows."""
    account = settings.account
    names = [name for name, _ in settings.checkpoint_seconds()]

    def at(t: float) -> datetime:
        return datetime.fromtimestamp(float(t), UTC)

    new = np.nonzero((run.t > after) & (run.t <= until))[0]
    posts, snapshots, rows = [], [], []
    for j in new:
        decision, tweet = f"{account}-{j + 1:07d}", f"{account}.{j + 1}"
        posts.append(
            dict(
                account=account,
                decision_id=decision,
                status="posted",
                kind="post",
                tweet_id=tweet,
                posted_at=at(run.t[j]),
                **run.rows[j],
                content=f"post {j}",
                content_sha=f"{j:064d}",
                policy="uniform",
                propensity=float(run.propensity[j]),
                propensities={d: float(p) for d, p in zip(run.dims, run.per_dim[j])},
                created_at=at(run.t[j]),
                updated_at=at(run.t[j]),
            )
        )
    taken = np.argwhere((run.measured > after) & (run.measured <= until))
    for p, c in sorted(taken.tolist(), key=lambda jc: run.measured[jc[0], jc[1]]):
        impressions, clicks, engagements = run.metrics[p, c]
        snapshots.append(
            dict(
                account=account,
                decision_id=f"{account}-{p + 1:07d}",
                tweet_id=f"{account}.{p + 1}",
                checkpoint=names[c],
                source="sim",
                observed_at=at(run.measured[p, c]),
                impressions=int(impressions),
                likes=int(engagements),
                reposts=0,
                replies=0,
                quotes=0,
                bookmarks=0,
                profile_clicks=int(clicks),
                link_clicks=0,
            )
        )
    final = np.nonzero(run.t <= until - 2 * DAY - 1800)[0] if attribution else np.array([], dtype=np.int64)
    for j in final:
        rows.append(
            dict(
                account=account,
                decision_id=f"{account}-{j + 1:07d}",
                tweet_id=f"{account}.{j + 1}",
                posted_at=at(run.t[j]),
                attributed_followers=float(run.follows[j]),
                attributed_sd=0.5,
                method="delay_kernel",
                method_version="1",
                final=True,
                updated_at=at(until),
            )
        )
    use = (run.snap_t > after) & (run.snap_t <= until)
    followers = [
        dict(account=account, observed_at=at(t), followers=int(n), source="sim")
        for t, n in zip(run.snap_t[use], run.snap_n[use])
    ]
    with store.begin() as conn:
        for table, values in (
            (content_metadata, posts),
            (metric_snapshots, snapshots),
            (post_attribution, rows),
            (follower_snapshots, followers),
        ):
            if values:
                conn.execute(table.insert(), values)


def measure(days: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="growthloop-cost-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'cost.db'}"
        store = SqlStore(url)
        store.upgrade()
        settings = Settings(database_url=url)
        run, end = build(store, settings, days)
        clock = VirtualClock(end)
        cache = LearningCache()  # as the wiring keeps it
        records = make_records(store)
        out: dict[str, Any] = {"days": days, "posts": int((run.t <= end.timestamp()).sum())}
        for step in range(3):
            now = end + timedelta(seconds=step * STEP)
            if step:
                add(store, settings, run, (now - timedelta(seconds=STEP)).timestamp(), now.timestamp())
            clock.sleep_until(now)
            for name, job in (("attribute", attribute_growth), ("learn", learn_performance)):
                t0 = time.process_time()
                job(store, None, None, clock, settings.account, settings, records, cache)  # type: ignore[arg-type]
                out[f"{name}_ms_{step}"] = round((time.process_time() - t0) * 1000, 1)
        store.dispose()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, nargs="+", default=[30.0, 90.0, 365.0])
    args = parser.parse_args()
    single_threaded_blas()
    print("days    posts   attribute CPU ms: first, +2h, +4h   learn CPU ms: first, +2h, +4h")
    for days in args.days:
        m = measure(days)
        print(
            f"{m['days']:>4g}  {m['posts']:>7}   {m['attribute_ms_0']:>8} {m['attribute_ms_1']:>7} "
            f"{m['attribute_ms_2']:>7}         {m['learn_ms_0']:>8} {m['learn_ms_1']:>7} {m['learn_ms_2']:>7}",
            flush=True,
        )


if __name__ == "__main__":
    main()
