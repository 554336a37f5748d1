"""The benchmark's fast in-memory loop: one policy on one world for some days (docs/design.md#simulator, #learning).

It runs the loop users run, with the facts in memory instead of in the store: the jobs' cadence and rules
from `Settings` (a follower snapshot and a metrics run every 15 minutes, attribution and learning every 2
hours, planning every 30 minutes into a queue of 4, a post whenever the rate window allows: 2 in any closed
hour, 30 minutes apart), the metrics each checkpoint's run sees, and the learning steps the jobs run
(`growthloop.learning.steps`). What it leaves out: the writer and the gate (every decision is posted),
replies, and the platform's faults; `tests/unit/test_same_loop.py` shows that with those switched off
`growthloop simulate` makes the same decisions, and `growthloop bench --through-jobs` runs the real jobs.

Common random numbers: post number j draws its noise from (world seed, j), day d its organic follows from
(world seed, d), and decision n from (world seed, n), whatever the policy, so every policy meets the same
world draws and differences between policies are differences of choices.

    result = run_policy(world, seed=3, policy="bayes", days=30)     # -> RunResult (JSON-able via .summary())
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from growthloop.adapters.platforms.sim.audience import Audience
from growthloop.adapters.platforms.sim.world import World
from growthloop.bench.peer import RETRAIN_HOURS, make_peer, train_peer
from growthloop.bench.reference import REFERENCE_DAYS, StructureLearner
from growthloop.config import LearningConfig, Settings
from growthloop.learning.attribution import Attribution, AttributionFit, naive_windows
from growthloop.learning.drift import Change
from growthloop.learning.model import FeatureSpace, FollowsModel
from growthloop.learning.ope import evaluate_policy
from growthloop.learning.policies import (
    Context,
    Decision,
    OraclePolicy,
    Policy,
    UniformPolicy,
    make_policy,
    seed_table,
)
from growthloop.learning.ranks import rank_correlation
from growthloop.learning.steps import (
    ENGAGEMENTS,
    KERNEL,
    RECENT_TOPICS,
    SIGNALS,
    Posts,
    attribute_run,
    build_policy,
    decide,
    design_rows,
    observe,
    refit,
    stamp,
)

__all__ = [
    "DEFAULT_START",
    "EngineConfig",
    "RunResult",
    "learning_figures",
    "learning_overrides",
    "loop_settings",
    "run_policy",
]

Array = NDArray[np.float64]
DEFAULT_START = datetime(2025, 11, 3, tzinfo=UTC)  # day 0 of worlds that leave `start` open (a Monday)
DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True)
class EngineConfig:
    """What the benchmark varies beyond the loop's settings (it runs with `Settings`' defaults)."""

    counters: tuple[str, ...] = SIGNALS  # what the platform gives: drop some to bench Bluesky or Mastodon
    engagements: tuple[str, ...] = ENGAGEMENTS  # which counters sum into engagements (no bookmarks off X)
    snapshot_drop: float = 0.0  # share of follower snapshots that fail (irregular series)
    ope: bool = True  # off-policy estimates of uniform random from a "bayes" run
    learning: dict[str, Any] = field(default_factory=dict)  # Settings.learning overrides: {"temperature": 0.45}
    # attribution figures (rho) of the policies that do not attribute as they go (oracle, uniform, seed,
    # reference): False skips attributing their whole run afterwards; their scores need none of it
    figures: bool = True
    reference: bool = True  # uniform runs: the free-exploration bound's daily follows (`bench.reference`)


def learning_overrides(text: str) -> dict[str, Any]:
    """`Settings.learning` overrides given as JSON on a bench's command line, checked before any run starts;
    ValueError says what is wrong."""
    try:
        learning = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--learning: not JSON: {e}") from None
    if not isinstance(learning, dict):
        raise ValueError(f"--learning: not a JSON object: {text}")
    try:
        LearningConfig.model_validate(learning)
    except ValidationError as e:
        raise ValueError(f"--learning: {e}") from None
    return learning


def loop_settings(world: World, seed: int, config: EngineConfig | None = None) -> Settings:
    """The loop's settings for a run of `world` with `seed`: the defaults, the world's buckets."""
    learning = LearningConfig(**(config.learning if config else {}))
    return Settings(buckets={d: list(v) for d, v in world.dimensions.items()}, seed=seed, learning=learning)


@dataclass
class RunResult:
    """One run: what it gained, its posts, and what it learned against the truth."""

    world: str
    seed: int
    policy: str
    days: float
    initial_followers: int
    final_followers: int
    expected_gain: float  # sum of the posts' true expected follows
    daily_expected: list[float]  # per day
    follows: Array  # per post, realised (true)
    expected_follows: Array  # per post, true expectation
    attributed: Array  # per post, our attribution
    attributed_sd: Array
    naive: Array  # per post, the seed's latest window delta
    final: NDArray[np.bool_]  # per post: its figures are final (48 h + passed)
    viral: NDArray[np.bool_]  # per post: the viral mixture fired (a world draw: the same for every policy)
    organic_follows: list[int]  # per day: organic follows (a world draw: the same for every policy)
    dimensions: list[dict[str, str]]
    propensity: Array  # joint, per post
    figures: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    models: list[tuple[float, FollowsModel]] = field(default_factory=list)  # (fitted at, model), every fit

    @property
    def gain(self) -> int:
        return self.final_followers - self.initial_followers

    def summary(self) -> dict[str, Any]:
        """The JSON-able figures of the run (no per-post arrays)."""
        return {
            "world": self.world,
            "seed": self.seed,
            "policy": self.policy,
            "days": self.days,
            "gain": self.gain,
            "expected_gain": self.expected_gain,
            "daily_expected": self.daily_expected,
            "posts": len(self.follows),
            **self.figures,
            "timings": self.timings,
            "notes": self.notes,
        }


class _Timer:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def add(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.spent[name] = self.spent.get(name, 0.0) + now - since
        return now


def run_policy(
    world: World,
    seed: int,
    policy: str,
    days: float,
    config: EngineConfig | None = None,
    start: datetime | None = None,
) -> RunResult:
    """Run `policy` on `world` with the world's seed replaced by `seed`, for `days`."""
    return EngineRun(world, seed, policy, days, config or EngineConfig(), start).run()


def post_times(t0: float, end: float, per_hour: int) -> Array:
    """When the post job publishes, given a full queue: as soon as the rate window allows (`loop/post.py`),
    spaced by 1 h / per_hour and at most per_hour in any closed hour (so a step of 1 s past the hour)."""
    out: list[float] = []
    t = t0
    while t < end:
        out.append(t)
        t = out[-1] + HOUR / per_hour
        if len(out) >= per_hour:
            t = max(t, out[-per_hour] + HOUR + 1.0)
    return np.array(out, dtype=float)


class EngineRun:
    """One run in memory: `simulate()` runs the loop, `run()` also scores it (`run_policy`)."""

    def __init__(
        self, world: World, seed: int, policy: str, days: float, config: EngineConfig, start: datetime | None
    ) -> None:
        self.world = world.with_seed(seed)
        self.seed = seed
        self.policy_name = policy
        self.days = days
        self.cfg = config
        self.settings = s = loop_settings(world, seed, config)
        origin = start or world.start or DEFAULT_START
        self.origin = origin
        self.t0 = origin.timestamp()
        self.audience = Audience(self.world, origin=origin)
        self.buckets = {d: tuple(v) for d, v in self.world.dimensions.items()}
        self.dims = list(self.buckets)
        self.space = FeatureSpace.of(self.buckets)
        self.timer = _Timer()
        # the jobs' cadence: the scheduler's ticks and the rate window's post times
        self.tick = float(s.jobs["followers"].interval)
        for job in ("metrics", "attribute", "learn", "plan"):
            if s.jobs[job].interval % s.jobs["followers"].interval:
                raise ValueError(f"the bench needs jobs.{job}.interval to be a multiple of jobs.followers.interval")
        self.metrics_every = float(s.jobs["metrics"].interval)
        self.learn_step = s.jobs["learn"].interval // s.jobs["followers"].interval
        self.plan_step = s.jobs["plan"].interval // s.jobs["followers"].interval
        self.tolerance = max(2 * s.jobs["followers"].interval, 1800)
        self.t = post_times(self.t0, self.t0 + days * DAY, s.posts_per_hour)
        n = self.n = len(self.t)
        self.checkpoints = np.array([sec for _, sec in s.checkpoint_seconds()], dtype=float)
        k = len(self.checkpoints)
        self.metrics = np.full((n, k, 3), np.nan)  # impressions, profile clicks, engagements at each checkpoint
        self.measured = np.full((n, k), np.inf)  # when the metrics run took each
        self.x = np.zeros((n, self.space.width))
        self.rows: list[dict[str, str]] = []
        self.topics: list[str] = []  # of the posted posts
        self.queue: deque[Decision] = deque()
        self.decided: list[str] = []  # the topics of every decision, posted or queued (the planner's context)
        self.follows = np.zeros(n)
        self.totals = np.zeros((n, 2))  # final impressions and profile clicks (the reference's data)
        self.expected = np.zeros(n)
        self.viral = np.zeros(n, dtype=bool)
        self.organic: list[int] = []
        self.propensity = np.ones(n)
        self.per_dim = np.ones((n, len(self.dims)))
        self.attributed = np.full(n, np.nan)
        self.attributed_sd = np.full(n, np.nan)
        self.settled = 0  # posts whose figures are final (the attribute job no longer touches them)
        self.fit: AttributionFit | None = None
        self.model: FollowsModel | None = None
        self.models: list[tuple[float, FollowsModel]] = []
        self.changes: list[tuple[float, Change]] = []  # (when seen, what)
        self.notes: list[str] = []
        self.fatigue_window = max(self.world.fatigue.window, 1)
        self.policy: Policy
        if policy == "oracle":
            self.policy = make_policy(policy, self.buckets, best=self._best, oracle_window=self.fatigue_window)
        elif policy == "reference":  # uniform for REFERENCE_DAYS, then committed (`bench.reference`)
            self.policy = UniformPolicy(self.buckets)
            self.policy.name = "reference"
        elif policy == "peer":
            self.policy = make_peer(self.buckets, seed)
        else:
            self.policy = make_policy(policy, self.buckets)  # "bayes" is uniform until there is a model
        self.committed = False

    def _best(self, day: int, recent: Sequence[str]) -> Mapping[str, str]:
        return self.audience.best_dimensions(day, recent)

    # ------------------------------------------------------------------------------------------- loop

    def run(self) -> RunResult:
        wall0 = time.perf_counter()
        self.simulate()
        wall = time.perf_counter() - wall0
        result = self._result(float(self.snap_t[-1]), len(self.snap_t) - 1)
        result.timings["run_s"] = round(wall, 4)
        result.timings.update({f"{name}_s": round(v, 4) for name, v in self.timer.spent.items()})
        return result

    def simulate(self) -> None:
        """The scheduler's ticks in the jobs' order (followers, metrics, attribute and learn, plan), each
        followed by the posts the post job publishes before the next tick."""
        cfg = self.cfg
        n_snap = int(math.floor(self.days * DAY / self.tick + 1e-9)) + 1
        self.snap_t = self.t0 + self.tick * np.arange(n_snap)
        horizon = n_snap + int(2 * DAY / self.tick) + 8
        self.grid = np.zeros(horizon)  # net follower events per snapshot interval (s[k-1], s[k]]
        self.snap_n = np.full(n_snap, np.nan)
        drop_rng = np.random.default_rng([self.seed, 0xD0])
        dropped = drop_rng.random(n_snap) < cfg.snapshot_drop
        dropped[0] = False
        followers = float(self.world.initial_followers)
        day_step = int(round(DAY / self.tick))
        j = 0
        learns_policy = self.policy_name in ("bayes", "seed", "peer")
        for k in range(n_snap):
            now = float(self.snap_t[k])
            if k % day_step == 0:
                self._organic(k // day_step, now, followers + self.grid[k])
            followers += self.grid[k]
            self.snap_n[k] = np.nan if dropped[k] else followers
            if learns_policy and k % self.learn_step == 0 and j > 0:
                self._learn(now, j, k)
            if k % self.plan_step == 0:
                self._plan(now)
            while j < self.n and self.t[j] < now + self.tick and self.queue:
                self._post(j, float(self.t[j]))
                j += 1

    def _organic(self, day: int, now: float, followers: float) -> None:
        events = self.audience.organic_events(day, int(max(followers, 0)))
        self.organic.append(sum(1 for _, d in events if d > 0))
        if not events:
            return
        offsets = np.array([e[0] for e in events])
        deltas = np.array([e[1] for e in events], dtype=float)
        bins = self._bins(now + offsets)
        np.add.at(self.grid, bins, deltas)

    def _bins(self, times: Array) -> NDArray[np.int64]:
        b = np.ceil((times - self.t0) / self.tick - 1e-9).astype(np.int64)
        return np.clip(b, 0, len(self.grid) - 1)

    def _plan(self, now: float) -> None:
        """The plan job: top the queue up, each decision after the topics posted and queued before it."""
        t0 = time.perf_counter()
        at = datetime.fromtimestamp(now, UTC)
        day = int((now - self.t0) // DAY)
        if self.policy_name == "reference" and not self.committed and day >= REFERENCE_DAYS:
            self._commit(len(self.rows))
        while len(self.queue) < self.settings.queue_size:
            decision = decide(self.policy, self.seed, len(self.decided), at, self.decided[-RECENT_TOPICS:], day)
            self.queue.append(decision)
            self.decided.append(decision.dimensions.get("topic", ""))
        self.timer.add("decide", t0)

    def _post(self, j: int, now: float) -> None:
        t0 = time.perf_counter()
        decision = self.queue.popleft()
        dims = decision.dimensions
        published = datetime.fromtimestamp(now, UTC)
        outcome = self.audience.draw_post(j, dims, published, self.topics[-self.fatigue_window :])
        if outcome.follow_delays:
            np.add.at(self.grid, self._bins(now + np.asarray(outcome.follow_delays)), 1.0)
        # each checkpoint is read by the first metrics run at or after it (a post off the runs' grid is
        # read later than its checkpoint, as the loop reads it)
        taken = self.t0 + np.ceil((now + self.checkpoints - self.t0) / self.metrics_every - 1e-9) * self.metrics_every
        self.measured[j] = taken
        for c, at in enumerate(taken):
            m = self.audience.metrics_at(outcome, at - now)
            self.metrics[j, c] = (m["impressions"], m["profile_clicks"], sum(m[e] for e in self.cfg.engagements))
        self.follows[j] = outcome.follows
        self.totals[j] = (outcome.impressions, outcome.profile_clicks)
        self.expected[j] = outcome.expected_follows
        self.viral[j] = outcome.viral
        self.propensity[j] = decision.propensity
        self.per_dim[j] = [decision.propensities[d] for d in self.dims]
        self.rows.append(dict(dims))
        self.x[j] = design_rows(self.space, [dims], np.array([now]), self.topics)[0]
        self.topics.append(dims.get("topic", ""))
        self.timer.add("simulate", t0)

    # ------------------------------------------------------------------------------------ reference

    def _commit(self, j: int) -> None:
        """The reference policy's commitment: the true-structure estimate from posts 0..j-1, then its best."""
        learned = StructureLearner(self.world).fit(
            self.rows[:j], self.t[:j], self.totals[:j, 0], self.totals[:j, 1], self.follows[:j]
        )
        self.policy = OraclePolicy(self.buckets, learned.best, self.fatigue_window, name="reference")
        self.committed = True

    def _free_daily(self, per_post_follows: bool = True) -> list[float]:
        """Per day d, the true expected follows of committing on day d to the true-structure estimate from
        this (uniform) run's posts of days 0..d-1, as if their exploration had cost nothing (day 0: uniform's);
        without `per_post_follows`, estimated from the counters and the follows' total only."""
        learner = StructureLearner(self.world)
        day_of = ((self.t - self.t0) // DAY).astype(np.int64)
        n_days = int(day_of.max()) + 1 if len(day_of) else 0
        out: list[float] = []
        for d in range(n_days):
            slots = np.nonzero(day_of == d)[0]
            if d == 0 or not len(slots):
                out.append(float(self.expected[slots].sum()))
                continue
            j = int(slots[0])
            learned = learner.fit(
                self.rows[:j], self.t[:j], self.totals[:j, 0], self.totals[:j, 1], self.follows[:j], per_post_follows
            )
            recent = list(self.topics[max(0, j - self.fatigue_window) : j])
            total = 0.0
            for i in slots:
                dims = learned.best(d, recent)
                published = datetime.fromtimestamp(float(self.t[i]), UTC)
                total += self.audience.expected_follows(dims, published, recent[-self.fatigue_window :])
                recent.append(dims.get("topic", ""))
            out.append(round(total, 4))
        return out

    # ------------------------------------------------------------------------------------------ learn

    def _posts(self, now: float, lo: int, j: int) -> Posts:
        """Posts lo..j-1 as the jobs read them at `now`: the counters the metrics runs took by then."""
        counters = np.where((self.measured[lo:j] <= now)[:, :, None], self.metrics[lo:j], np.nan)
        given = [c for c in SIGNALS if c in self.cfg.counters]
        counters[:, :, [i for i, c in enumerate(SIGNALS) if c not in given]] = np.nan
        seen = np.asarray(np.isfinite(counters).any(axis=(0, 1)), dtype=bool)
        observed = observe(counters, tuple(c for i, c in enumerate(SIGNALS) if seen[i]))
        return Posts(self.t[lo:j], self.x[lo:j], observed, np.ones(j - lo, dtype=bool))

    def _series(self, k: int, since: float) -> tuple[Array, Array]:
        s = self.snap_t[: k + 1]
        c = self.snap_n[: k + 1]
        use = (s >= since) & np.isfinite(c)
        return np.asarray(s[use], dtype=float), np.asarray(c[use], dtype=float)

    def _learn(self, now: float, j: int, k: int) -> None:
        """The attribute job, then the learn job, then the planner's policy on the new model."""
        t0 = time.perf_counter()
        if self.policy_name == "peer":
            if (k // self.learn_step) % max(1, int(RETRAIN_HOURS * HOUR // self.settings.jobs["learn"].interval)):
                return
            self._attribute(now, j, k)
            t0 = self.timer.add("attribute", t0)
            self.policy = train_peer(self.policy, self.seed, self.rows[:j], self.t[:j], self.attributed[:j])
            self.timer.add("policy", t0)
            return
        if self.policy_name == "seed":
            s, c = self._series(k, self.t0)
            naive = naive_windows(self.t[:j], s, c, now)
            table = seed_table(self.buckets, self.rows[:j], naive.delta)
            self.policy = make_policy("seed", self.buckets, table=table)
            self.timer.add("learn", t0)
            return
        self._attribute(now, j, k)
        t0 = self.timer.add("attribute", t0)
        if self.fit is None or not np.isfinite(self.attributed[:j]).any():
            return  # learn: no attributed followers yet
        self._fit_model(now, j)
        t0 = self.timer.add("model", t0)
        self.policy = build_policy("bayes", self.settings, self.model, stamp(now))
        self.timer.add("policy", t0)

    def _attribute(self, now: float, j: int, k: int) -> Attribution | None:
        """The attribute job: the posts not final yet get their figures (`steps.attribute_run`)."""
        if self.settled >= j:
            return None
        start = now - self.settings.learning.history_days * DAY
        oldest = max(float(self.t[self.settled]), start)
        fitted = self.fit.fitted_until if self.fit is not None else start
        since = min(oldest, fitted)
        lo = int(np.searchsorted(self.t[:j], since - KERNEL, side="right"))  # what the job reads
        s, c = self._series(k, since - self.tolerance)
        res, first = attribute_run(
            self._posts(now, lo, j), s, c, now, oldest, self.fit, self.model, self.space, self.settings, start=start
        )
        self.fit = res.fit
        # the figures of the posts not final yet (the earlier ones the figures cover are context)
        pending = self.settled - lo - first
        self.attributed[self.settled : j] = res.attributed[pending:]
        self.attributed_sd[self.settled : j] = res.sd[pending:]
        # a post's row is final once its 48 hours and a snapshot's tolerance have passed
        self.settled = int(np.searchsorted(self.t[:j], now - 2 * DAY - self.tolerance, side="right"))
        self.notes = list(res.notes)
        return res

    def _fit_model(self, now: float, j: int) -> None:
        """The learn job (`steps.refit`) on the posts of the last `history_days`."""
        assert self.fit is not None
        lo = int(np.searchsorted(self.t[:j], now - self.settings.learning.history_days * DAY, side="right"))
        self.model, change = refit(
            self._posts(now, lo, j),
            self.attributed[lo:j],
            self.attributed_sd[lo:j],
            self.fit,
            now,
            self.model,
            self.space,
            self.settings,
        )
        self.models.append((now, self.model))
        if change is not None:
            self.changes.append((now, change))

    # ---------------------------------------------------------------------------------------- figures

    def _result(self, now: float, k: int) -> RunResult:
        t0 = time.perf_counter()
        j = self.n
        s, c = self._series(k, self.t0)
        naive = naive_windows(self.t, s, c, now)
        learned = self.policy_name in ("bayes", "peer")
        if not learned and not self.cfg.figures:
            figures: dict[str, Any] = {}
        elif not learned:
            # the other policies did not attribute as they went: attribute their whole run at once, now
            self.fit, self.model, self.settled = None, None, 0
            self._attribute(now, j, k)
            self._fit_model(now, j)
        elif k % self.learn_step != 0 or self.model is None:
            self._attribute(now, j, k)  # the jobs' last run, if the run did not end on one
            self._fit_model(now, j)
        t0 = self.timer.add("final_attribution", t0)
        final = self.t <= now - 2 * DAY
        last_day = max(0, int(math.ceil(self.days)) - 1)
        if learned or self.cfg.figures:
            assert self.model is not None
            figures = learning_figures(
                self.buckets,
                self.rows,
                self.attributed,
                naive.delta,
                self.follows,
                self.expected,
                final,
                self.model,
                self.audience.true_effects(last_day),
            )
        figures["changes"] = [
            {"from_day": self._day(c.at), "seen_day": self._day(seen), "what": c.describe()} for seen, c in self.changes
        ]
        if self.policy_name == "bayes" and self.cfg.ope:
            figures["ope_uniform"] = self._ope_uniform()
        if self.policy_name == "uniform" and self.cfg.reference:
            figures["free_daily_expected"] = self._free_daily()
            figures["free_daily_expected_counters"] = self._free_daily(per_post_follows=False)
        self.timer.add("figures", t0)
        daily = np.bincount(((self.t - self.t0) // DAY).astype(np.int64), weights=self.expected)
        return RunResult(
            world=self.world.name,
            seed=self.seed,
            policy=self.policy_name,
            days=self.days,
            initial_followers=self.world.initial_followers,
            final_followers=int(round(float(self.snap_n[~np.isnan(self.snap_n)][-1]))),
            expected_gain=float(self.expected.sum()),
            daily_expected=[round(float(v), 4) for v in daily],
            follows=self.follows,
            expected_follows=self.expected,
            attributed=self.attributed,
            attributed_sd=self.attributed_sd,
            naive=naive.delta,
            final=final,
            viral=self.viral,
            organic_follows=self.organic,
            dimensions=self.rows,
            propensity=self.propensity,
            figures=figures,
            notes=list(self.notes),
            models=self.models,
        )

    def _day(self, at: float) -> float:
        return round((at - self.t0) / DAY, 2)

    def _ope_uniform(self) -> dict[str, Any]:
        """Off-policy estimates of uniform random's value per post from this run's logs, and the truth."""
        assert self.model is not None
        n = self.n
        contexts = [
            Context(
                at=float(self.t[i]),
                hour=int((self.t[i] // 3600) % 24),
                recent_topics=tuple(self.topics[max(0, i - RECENT_TOPICS) : i]),
                day_index=int((self.t[i] - self.t0) // DAY),
            )
            for i in range(n)
        ]
        per_dim = [dict(zip(self.dims, row)) for row in self.per_dim.tolist()]
        est = evaluate_policy(
            UniformPolicy(self.buckets),
            self.rows,
            self.propensity,
            per_dim,
            np.nan_to_num(self.attributed, nan=0.0),
            contexts,
            self.model,
            self.x,
        )
        truth = self._uniform_truth()
        return {
            "truth": truth,
            "estimates": {name: {**e.as_dict(), "covers": e.covers(truth)} for name, e in est.items()},
        }

    def _uniform_truth(self, samples: int = 8) -> float:
        """Uniform random's true expected follows per post in this run's contexts (times, recent topics)."""
        rng = np.random.default_rng([self.seed, 0x0E])
        total = 0.0
        for i in range(self.n):
            published = datetime.fromtimestamp(float(self.t[i]), UTC)
            recent = self.topics[max(0, i - self.fatigue_window) : i]
            for _ in range(samples):
                dims = {d: v[int(rng.integers(len(v)))] for d, v in self.buckets.items()}
                total += self.audience.expected_follows(dims, published, recent)
        return total / (self.n * samples)


def learning_figures(
    buckets: Mapping[str, Sequence[str]],
    rows: Sequence[Mapping[str, str]],
    attributed: Array,
    naive: Array,
    follows: Array,
    expected: Array,
    final: NDArray[np.bool_],
    model: FollowsModel,
    truth: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> dict[str, Any]:
    """How well a run's attribution ranks its final posts and its model the values, against the truth, beside
    the seed's window deltas."""
    figures: dict[str, Any] = {}
    figures["rho_posts"] = rank_correlation(attributed[final], follows[final])
    figures["rho_posts_naive"] = rank_correlation(naive[final], follows[final])
    figures["rho_posts_expected"] = rank_correlation(attributed[final], expected[final])
    figures["rho_posts_expected_naive"] = rank_correlation(naive[final], expected[final])
    learned = {d: {e.value: e.expected_follows for e in rows} for d, rows in model.value_effects().items()}
    table = seed_table(buckets, rows, naive)
    naive_values = {d: {v: r.average for v, r in rows.items()} for d, rows in table.items()}
    true_values = {d: {v: e["expected_follows"] for v, e in rows.items()} for d, rows in truth.items()}
    figures.update(_value_figures(learned, true_values, "rho_values"))
    figures.update(_value_figures(naive_values, true_values, "rho_values_naive"))
    figures["attributed_total"] = float(np.nansum(attributed))
    figures["caused_total"] = float(follows.sum())
    return figures


def _value_figures(
    estimated: Mapping[str, Mapping[str, float | None]], truth: Mapping[str, Mapping[str, float]], prefix: str
) -> dict[str, Any]:
    """Spearman of estimated vs true per-value effects: per dimension, their mean, and pooled (log, centred)."""
    per_dim: dict[str, float | None] = {}
    pooled_e: list[float] = []
    pooled_t: list[float] = []
    for dim, true_rows in truth.items():
        est = estimated.get(dim, {})
        common = [v for v in true_rows if est.get(v) is not None and math.isfinite(float(est[v] or 0.0))]
        e = np.array([float(est[v] or 0.0) for v in common])
        t = np.array([true_rows[v] for v in common])
        per_dim[dim] = rank_correlation(e, t)
        if len(common) >= 2:
            # centred within the dimension, so that dimensions with different levels pool
            pooled_e += list(_centre(e))
            pooled_t += list(_centre(t))
    vals = [v for v in per_dim.values() if v is not None]
    return {
        f"{prefix}_by_dimension": per_dim,
        f"{prefix}_mean": round(sum(vals) / len(vals), 4) if vals else None,
        f"{prefix}_pooled": rank_correlation(np.array(pooled_e), np.array(pooled_t)),
    }


def _centre(v: Array) -> Array:
    centred: Array
    if (v > 0).all():
        lv = np.log(v)
        centred = lv - lv.mean()
    else:
        centred = (v - v.mean()) / (np.abs(v).mean() + 1e-12)
    return centred
