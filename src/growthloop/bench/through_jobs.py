"""A benchmark run through the real jobs on the real store: `growthloop bench --through-jobs`.

    summary = run_through_jobs(Path("worlds/default.toml"), seed=3, policy="bayes", days=30)

The run is `growthloop simulate` on a new SQLite database in a temporary directory, with the configured
policy (`learning.policy`), replies and the gate as users run them; its figures are read back from the store
and the simulator's tables and scored as the in-memory engine scores its runs (`engine.learning_figures`),
so a figure of `growthloop bench` can be checked against the loop users run. "oracle" needs the world's
truth, which the loop does not have: it runs in memory. No off-policy estimate is made here (`growthloop
learn evaluate` does that on a simulation's database).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from growthloop.adapters.platforms.sim.audience import Audience
from growthloop.adapters.platforms.sim.world import load_world
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, post_attribution, sim_posts
from growthloop.bench.engine import DAY, DEFAULT_START, learning_figures
from growthloop.config import LearningConfig, Settings
from growthloop.domain import DIMENSIONS, POSTED, SKIPPED
from growthloop.learning import naive_windows
from growthloop.logging import configure_logging
from growthloop.loop.history import stored_model
from growthloop.simulation import plan_simulation, run_simulation

__all__ = ["LOOP_POLICIES", "run_through_jobs"]

LOOP_POLICIES = ("bayes", "seed", "uniform")  # the policies the jobs can run (`learning.policy`)


def run_through_jobs(world_path: Path, seed: int, policy: str, days: float, platform: str = "x") -> dict[str, Any]:
    """`growthloop simulate` of `world_path` with `seed` (the world's own seed replaced) and `policy` for
    `days`, on `platform`'s capabilities; the run's summary, shaped as `RunResult.summary()`."""
    if policy not in LOOP_POLICIES:
        raise ValueError(f"the jobs run {', '.join(LOOP_POLICIES)}, not {policy!r}")
    world = load_world(world_path)
    start = world.start or DEFAULT_START
    configure_logging(quiet=True)  # as `simulate` does: thousands of job runs, only warnings are news
    with tempfile.TemporaryDirectory(prefix="growthloop-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'loop.db'}"
        store = SqlStore(url)
        try:
            store.upgrade()
            settings = Settings(database_url=url, learning=LearningConfig.model_validate({"policy": policy}))
            wall0 = time.perf_counter()
            run_simulation(store, settings, plan_simulation(str(world_path), seed, days, start, platform), resume=False)
            wall = time.perf_counter() - wall0
            return _summary(store, settings.model_copy(update={"seed": seed}), world_path, seed, policy, days, wall)
        finally:
            store.dispose()


def _summary(
    store: SqlStore, settings: Settings, world_path: Path, seed: int, policy: str, days: float, wall: float
) -> dict[str, Any]:
    world = load_world(world_path).with_seed(seed)
    start = (world.start or DEFAULT_START).timestamp()
    now = start + days * DAY
    cm, pa, sp, fs = content_metadata, post_attribution, sim_posts, follower_snapshots
    with store.connect() as conn:
        posts = conn.execute(
            select(cm, pa.c.attributed_followers, sp.c.follows, sp.c.expected_follows)
            .join(pa, pa.c.decision_id == cm.c.decision_id, isouter=True)
            .join(sp, sp.c.platform_id == cm.c.tweet_id)
            .where(cm.c.account == settings.account, cm.c.status == POSTED)
            .order_by(cm.c.posted_at, cm.c.id)
        ).all()
        rejected = conn.execute(
            select(cm.c.id).where(cm.c.account == settings.account, cm.c.status == SKIPPED, cm.c.kind == "post")
        ).all()
        series = conn.execute(select(fs.c.observed_at, fs.c.followers).order_by(fs.c.observed_at)).all()
        model, _ = stored_model(store, conn, settings.account, settings)
    times = np.array([p.posted_at.timestamp() for p in posts])
    follows = np.array([p.follows for p in posts], dtype=float)
    expected = np.array([p.expected_follows for p in posts], dtype=float)
    attributed = np.array([np.nan if p.attributed_followers is None else p.attributed_followers for p in posts])
    s = np.array([r.observed_at.timestamp() for r in series])
    c = np.array([r.followers for r in series], dtype=float)
    naive = naive_windows(times, s, c, now)
    figures: dict[str, Any] = {
        "replies": sum(p.kind == "reply" for p in posts),
        "drafts_rejected": len(rejected),
    }
    if model is not None:
        last_day = max(0, int(math.ceil(days)) - 1)
        truth = Audience(world, origin=(world.start or DEFAULT_START)).true_effects(last_day)
        rows = [{d: getattr(p, d) for d in DIMENSIONS} for p in posts]
        buckets = {d: tuple(v) for d, v in world.dimensions.items()}
        final = times <= now - 2 * DAY
        figures.update(learning_figures(buckets, rows, attributed, naive.delta, follows, expected, final, model, truth))
    daily = np.bincount(((times - start) // DAY).astype(np.int64), weights=expected, minlength=int(math.ceil(days)))
    return {
        "world": world.name,
        "seed": seed,
        "policy": policy,
        "days": days,
        "through_jobs": True,
        "gain": int(c[-1]) - world.initial_followers,
        "expected_gain": float(expected.sum()),
        "daily_expected": [round(float(v), 4) for v in daily],
        "posts": len(posts),
        **figures,
        "timings": {"run_s": round(wall, 4)},
        "notes": [] if model is not None else ["no model was learned"],
    }
