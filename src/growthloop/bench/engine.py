"""The benchmark's fast in-memory loop: one policy on one world for some days (SPEC §5, §6).

It mirrors the real loop's cadence without a database or any text: a post every 30 minutes, metrics seen at
the same checkpoints (15 min, 1 h, 2 h, 6 h, 24 h, 48 h, 7 d), a follower snapshot every 15 minutes from the
audience's follows (their delays) and the organic follows and churn, and every 2 hours attribution and
learning with the same functions the jobs use (`growthloop.learning`), after which the policy decides the
next posts. The audience needs only the dimension values.

Common random numbers: post number j draws its noise from (world seed, j) and day d its organic follows from
(world seed, d), whatever the policy, so every policy meets the same world draws and differences between
policies are differences of choices.

    result = run_policy(world, seed=3, policy="bayes", days=30)     # -> RunResult (JSON-able via .summary())
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import spearmanr

from growthloop.adapters.platforms.sim.audience import Audience
from growthloop.adapters.platforms.sim.world import World
from growthloop.learning.attribution import (
    Attribution,
    AttributionFit,
    attribute,
    estimate_completeness,
    naive_windows,
)
from growthloop.learning.drift import Change, detect_change, drift_weights
from growthloop.learning.model import (
    DEFAULT_HALF_LIFE_DAYS,
    FeatureSpace,
    FollowsModel,
    candidate_fatigue,
    fit_follows_model,
    follow_design,
)
from growthloop.learning.ope import evaluate_policy
from growthloop.learning.policies import (
    DEFAULT_EXPLORATION,
    DEFAULT_TEMPERATURE,
    Context,
    Policy,
    UniformPolicy,
    make_policy,
    seed_table,
)

__all__ = ["DEFAULT_START", "EngineConfig", "RunResult", "run_policy"]

Array = NDArray[np.float64]
DEFAULT_START = datetime(2025, 11, 3, tzinfo=UTC)  # day 0 of worlds that leave `start` open (a Monday)
DAY = 86400.0
ENGAGEMENTS = ("likes", "reposts", "replies", "quotes", "bookmarks")
COUNTERS = ("impressions", "profile_clicks", "engagements")


@dataclass(frozen=True)
class EngineConfig:
    """The loop's cadence and the learner's settings (the real loop's defaults)."""

    post_every: float = 1800.0
    snapshot_every: float = 900.0
    learn_every: float = 7200.0
    checkpoints: tuple[float, ...] = (900.0, 3600.0, 7200.0, 21600.0, 86400.0, 172800.0, 604800.0)
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS  # discounting for drift
    exploration: float = DEFAULT_EXPLORATION  # the exploration floor per dimension
    temperature: float = DEFAULT_TEMPERATURE  # Thompson draws from the posterior with its sds scaled by this
    reference_sd: float | None = None  # Thompson: scale each direction's variance by min(1, var / ref^2)
    temperature_start: float | None = None  # if set: the temperature on day 0, falling to `temperature`
    temperature_days: float = 5.0  # over so many days
    attribution_days: float = 7.0  # posts younger than this are re-attributed at every run
    figures_every: float = 43200.0  # per-post figures every so often (decisions do not depend on them)
    counters: tuple[str, ...] = COUNTERS  # what the platform gives: drop some to bench Bluesky or Mastodon
    engagements: tuple[str, ...] = ENGAGEMENTS  # which counters sum into engagements (no bookmarks off X)
    snapshot_drop: float = 0.0  # share of follower snapshots that fail (irregular series)
    ope: bool = True  # off-policy estimates of uniform random from a "bayes" run
    detect_changes: bool = True  # down-weight the facts before a detected change point (learning.drift)


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
    return _Run(world, seed, policy, days, config or EngineConfig(), start).run()


class _Run:
    def __init__(
        self, world: World, seed: int, policy: str, days: float, config: EngineConfig, start: datetime | None
    ) -> None:
        self.world = world.with_seed(seed)
        self.seed = seed
        self.policy_name = policy
        self.days = days
        self.cfg = config
        origin = start or world.start or DEFAULT_START
        self.origin = origin
        self.t0 = origin.timestamp()
        self.audience = Audience(self.world, origin=origin)
        self.buckets = {d: tuple(v) for d, v in self.world.dimensions.items()}
        self.dims = list(self.buckets)
        self.space = FeatureSpace.of(self.buckets)
        self.timer = _Timer()
        n = int(math.floor(days * DAY / config.post_every + 1e-9))
        self.n = n
        self.t = self.t0 + config.post_every * np.arange(n)
        k = len(config.checkpoints)
        self.metrics = np.full((n, k, 3), np.nan)  # impressions, profile clicks, engagements at each checkpoint
        self.x = np.zeros((n, self.space.width))
        self.rows: list[dict[str, str]] = []
        self.topics: list[str] = []
        self.follows = np.zeros(n)
        self.expected = np.zeros(n)
        self.viral = np.zeros(n, dtype=bool)
        self.organic: list[int] = []
        self.propensity = np.ones(n)
        self.per_dim = np.ones((n, len(self.dims)))
        self.attributed = np.full(n, np.nan)
        self.attributed_sd = np.full(n, np.nan)
        self.fit: AttributionFit | None = None
        self.model: FollowsModel | None = None
        self.changes: list[tuple[float, Change]] = []  # (when seen, what)
        self.policy: Policy = (
            make_policy(policy, self.buckets, best=self._best, oracle_window=max(world.fatigue.window, 1))
            if policy == "oracle"
            else make_policy(policy, self.buckets)
        )
        self.rng = np.random.default_rng([seed, 0xB0, zlib.crc32(policy.encode())])
        self.fatigue_window = max(self.world.fatigue.window, 1)

    def _best(self, day: int, recent: Sequence[str]) -> Mapping[str, str]:
        return self.audience.best_dimensions(day, recent)

    # ------------------------------------------------------------------------------------------- loop

    def run(self) -> RunResult:
        cfg = self.cfg
        wall0 = time.perf_counter()
        n_snap = int(math.floor(self.days * DAY / cfg.snapshot_every + 1e-9)) + 1
        self.snap_t = self.t0 + cfg.snapshot_every * np.arange(n_snap)
        horizon = n_snap + int(2 * DAY / cfg.snapshot_every) + 8
        self.grid = np.zeros(horizon)  # net follower events per snapshot interval (s[k-1], s[k]]
        self.snap_n = np.full(n_snap, np.nan)
        drop_rng = np.random.default_rng([self.seed, 0xD0])
        dropped = drop_rng.random(n_snap) < cfg.snapshot_drop
        dropped[0] = False
        followers = float(self.world.initial_followers)
        post_step = int(round(cfg.post_every / cfg.snapshot_every))
        learn_step = int(round(cfg.learn_every / cfg.snapshot_every))
        day_step = int(round(DAY / cfg.snapshot_every))
        j = 0
        learns_policy = self.policy_name in ("bayes", "seed")
        for k in range(n_snap):
            now = float(self.snap_t[k])
            if k % day_step == 0:
                self._organic(k // day_step, now, followers + self.grid[k])
            followers += self.grid[k]
            self.snap_n[k] = np.nan if dropped[k] else followers
            if learns_policy and k > 0 and k % learn_step == 0 and j > 0:
                self._learn(now, j, k)
            if k % post_step == 0 and j < self.n:
                self._post(j, now)
                j += 1
        wall = time.perf_counter() - wall0
        result = self._result(float(self.snap_t[-1]), n_snap - 1)
        result.timings["run_s"] = round(wall, 4)
        result.timings.update({f"{name}_s": round(v, 4) for name, v in self.timer.spent.items()})
        return result

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
        b = np.ceil((times - self.t0) / self.cfg.snapshot_every - 1e-9).astype(np.int64)
        return np.clip(b, 0, len(self.grid) - 1)

    def _post(self, j: int, now: float) -> None:
        t0 = time.perf_counter()
        recent = tuple(self.topics[-16:])
        hour = int((now // 3600) % 24)
        day = int((now - self.t0) // DAY)
        ctx = Context(at=now, hour=hour, recent_topics=recent, day_index=day)
        decision = self.policy.decide(self.rng, ctx)
        t0 = self.timer.add("decide", t0)
        dims = decision.dimensions
        published = datetime.fromtimestamp(now, UTC)
        outcome = self.audience.draw_post(j, dims, published, recent[-self.fatigue_window :])
        if outcome.follow_delays:
            np.add.at(self.grid, self._bins(now + np.asarray(outcome.follow_delays)), 1.0)
        for c, age in enumerate(self.cfg.checkpoints):
            m = self.audience.metrics_at(outcome, age)
            self.metrics[j, c] = (m["impressions"], m["profile_clicks"], sum(m[e] for e in self.cfg.engagements))
        self.follows[j] = outcome.follows
        self.expected[j] = outcome.expected_follows
        self.viral[j] = outcome.viral
        self.propensity[j] = decision.propensity
        self.per_dim[j] = [decision.propensities[d] for d in self.dims]
        self.rows.append(dict(dims))
        topic = dims.get("topic", "")
        fat = (
            candidate_fatigue(recent, topic, self.space.fatigue_lags)[None, :] if self.space.fatigue_dimension else None
        )
        self.x[j] = self.space.encode([dims], [hour], fat)[0]
        self.topics.append(topic)
        self.timer.add("simulate", t0)

    # ------------------------------------------------------------------------------------------ learn

    def _observed(self, now: float, j: int) -> tuple[Array, Array, NDArray[np.int64]]:
        """Latest counters of the first j posts at `now` (NaN before the first checkpoint) and completeness."""
        ages = now - self.t[:j]
        cps = np.asarray(self.cfg.checkpoints)
        idx = np.asarray(np.searchsorted(cps, ages, side="right") - 1, dtype=np.int64)
        latest = np.full((j, 3), np.nan)
        ok = idx >= 0
        latest[ok] = self.metrics[np.nonzero(ok)[0], idx[ok]]
        # what each post has shown at each checkpoint so far, to estimate how complete counters are
        # from the most widely given counter the platform shows (impressions, else engagements), as history.py
        base = next((COUNTERS.index(c) for c in ("impressions", "engagements") if c in self.cfg.counters), 0)
        seen = np.where(cps[None, :] <= ages[:, None], self.metrics[:j, :, base], np.nan)
        curve = estimate_completeness(seen)
        comp = np.asarray(np.where(ok, curve[np.maximum(idx, 0)], 0.0), dtype=float)
        return latest, comp, idx

    def _counter(self, latest: Array, name: str) -> Array | None:
        if name not in self.cfg.counters:
            return None
        return latest[:, COUNTERS.index(name)]

    def _series(self, k: int, since: float) -> tuple[Array, Array]:
        s = self.snap_t[: k + 1]
        c = self.snap_n[: k + 1]
        use = s >= since
        return np.asarray(s[use], dtype=float), np.asarray(c[use], dtype=float)

    def _learn(self, now: float, j: int, k: int) -> None:
        t0 = time.perf_counter()
        if self.policy_name == "seed":
            s, c = self._series(k, self.t0)
            naive = naive_windows(self.t[:j], s, c, now)
            table = seed_table(self.buckets, self.rows[:j], naive.delta)
            self.policy = make_policy("seed", self.buckets, table=table)
            self.timer.add("learn", t0)
            return
        latest, comp, idx = self._observed(now, j)
        # the conversion: updated with the snapshots since the last fit (its posterior is their prior)
        since = self.fit.fitted_until if self.fit is not None else self.t0
        self._attribute(now, j, k, latest, comp, idx, since=since, figures=False)
        t0 = self.timer.add("attribute", t0)
        if k % int(round(self.cfg.figures_every / self.cfg.snapshot_every)) == 0:
            self._attribute(now, j, k, latest, comp, idx, since=now - self.cfg.attribution_days * DAY, figures=True)
            t0 = self.timer.add("figures", t0)
        self._fit_model(now, j, latest, comp)
        t0 = self.timer.add("model", t0)
        assert self.model is not None
        self.policy = make_policy(
            "bayes",
            self.buckets,
            model=self.model,
            exploration=self.cfg.exploration,
            temperature=self._temperature(now),
            reference_sd=self.cfg.reference_sd,
            seed=self.seed * 100003 + k,
        )
        self.timer.add("policy", t0)

    def _attribute(
        self,
        now: float,
        j: int,
        k: int,
        latest: Array,
        comp: Array,
        idx: NDArray[np.int64],
        since: float,
        figures: bool,
        cold: bool = False,
    ) -> Attribution:
        """Attribute the series from `since` to the posts that may have caused any of it; keep their figures."""
        since = max(self.t0, since)
        lo = int(np.searchsorted(self.t[:j], since - 2 * DAY, side="left"))  # earlier posts still arriving
        s, c = self._series(k, since)
        design, prior_mean, prior_sd = follow_design(self.space, self.x[lo:j], self._surrogate(), self.model)
        has = idx[lo:j] >= 0
        clicks = self._counter(latest[lo:j], "profile_clicks")
        impr = self._counter(latest[lo:j], "impressions")
        eng = self._counter(latest[lo:j], "engagements")
        res = attribute(
            self.t[lo:j],
            s,
            c,
            now,
            features=design,
            profile_clicks=None if clicks is None else np.where(has, clicks, np.nan),
            impressions=None if impr is None else np.where(has, impr, np.nan),
            engagements=None if eng is None else np.where(has, eng, np.nan),
            completeness=np.where(has, comp[lo:j], 0.0),
            prior_mean=prior_mean,
            prior_sd=prior_sd,
            half_life_days=self.cfg.half_life_days,
            warm=None if cold else self.fit,
            figures=figures,
        )
        self.fit = res.fit
        if figures:
            mine = self.t[lo:j] >= since
            self.attributed[lo:j][mine] = res.attributed[mine]
            self.attributed_sd[lo:j][mine] = res.sd[mine]
        self.notes = list(res.notes)
        return res

    def _temperature(self, now: float) -> float:
        cfg = self.cfg
        if cfg.temperature_start is None:
            return cfg.temperature
        frac = min(1.0, (now - self.t0) / (cfg.temperature_days * DAY))
        return cfg.temperature_start + (cfg.temperature - cfg.temperature_start) * frac

    def _surrogate(self) -> str:
        for name in ("profile_clicks", "impressions", "engagements"):
            if name in self.cfg.counters:
                return name
        return "none"

    def _fit_model(self, now: float, j: int, latest: Array, comp: Array) -> None:
        assert self.fit is not None
        impressions = self._counter(latest, "impressions")
        clicks = self._counter(latest, "profile_clicks")
        changed_at = self.model.changed_at if self.model is not None else None
        if self.cfg.detect_changes:
            change = detect_change(
                self.model,
                self.x[:j],
                self.t[:j],
                now,
                impressions=impressions,
                profile_clicks=clicks,
                completeness=comp,
            )
            if change is not None:
                self.changes.append((now, change))
                changed_at = change.at
        w = drift_weights(self.t[:j], now, self.cfg.half_life_days, changed_at)
        w = np.where(w < 0.01, 0.0, w)
        self.model = fit_follows_model(
            self.space,
            self.x[:j],
            w,
            self.fit,
            self.attributed[:j],
            attributed_sd=self.attributed_sd[:j],
            impressions=impressions,
            profile_clicks=clicks,
            engagements=self._counter(latest, "engagements"),
            completeness=comp,
            previous=self.model,
            changed_at=changed_at,
        )

    # ---------------------------------------------------------------------------------------- figures

    def _result(self, now: float, k: int) -> RunResult:
        t0 = time.perf_counter()
        j = self.n
        s, c = self._series(k, self.t0)
        naive = naive_windows(self.t, s, c, now)
        latest, comp, idx = self._observed(now, j)
        if self.policy_name != "bayes":
            # the other policies did not attribute as they went: attribute their whole run at once, now
            self._attribute(now, j, k, latest, comp, idx, since=self.t0, figures=True, cold=True)
            self._fit_model(now, j, latest, comp)
        else:
            self._attribute(now, j, k, latest, comp, idx, since=now - self.cfg.attribution_days * DAY, figures=True)
            self._fit_model(now, j, latest, comp)
        t0 = self.timer.add("final_attribution", t0)
        final = self.t <= now - 2 * DAY
        last_day = max(0, int(math.ceil(self.days)) - 1)
        truth = self.audience.true_effects(last_day)
        figures: dict[str, Any] = {}
        figures["rho_posts"] = _rho(self.attributed[final], self.follows[final])
        figures["rho_posts_naive"] = _rho(naive.delta[final], self.follows[final])
        figures["rho_posts_expected"] = _rho(self.attributed[final], self.expected[final])
        figures["rho_posts_expected_naive"] = _rho(naive.delta[final], self.expected[final])
        assert self.model is not None
        learned = {d: {e.value: e.expected_follows for e in rows} for d, rows in self.model.value_effects().items()}
        table = seed_table(self.buckets, self.rows, naive.delta)
        naive_values = {d: {v: r.average for v, r in rows.items()} for d, rows in table.items()}
        true_values = {d: {v: e["expected_follows"] for v, e in rows.items()} for d, rows in truth.items()}
        figures.update(_value_figures(learned, true_values, "rho_values"))
        figures.update(_value_figures(naive_values, true_values, "rho_values_naive"))
        figures["attributed_total"] = float(np.nansum(self.attributed))
        figures["caused_total"] = float(self.follows.sum())
        figures["changes"] = [
            {"from_day": self._day(c.at), "seen_day": self._day(seen), "what": c.describe()} for seen, c in self.changes
        ]
        if self.policy_name == "bayes" and self.cfg.ope:
            figures["ope_uniform"] = self._ope_uniform()
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
            notes=list(getattr(self, "notes", [])),
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
                recent_topics=tuple(self.topics[max(0, i - 16) : i]),
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


def _rho(a: Array, b: Array) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or len(np.unique(a[ok])) < 2 or len(np.unique(b[ok])) < 2:
        return None
    value = float(spearmanr(a[ok], b[ok]).statistic)
    return None if math.isnan(value) else round(value, 4)


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
        per_dim[dim] = _rho(e, t)
        if len(common) >= 2:
            # centred within the dimension, so that dimensions with different levels pool
            pooled_e += list(_centre(e))
            pooled_t += list(_centre(t))
    vals = [v for v in per_dim.values() if v is not None]
    return {
        f"{prefix}_by_dimension": per_dim,
        f"{prefix}_mean": round(sum(vals) / len(vals), 4) if vals else None,
        f"{prefix}_pooled": _rho(np.array(pooled_e), np.array(pooled_t)),
    }


def _centre(v: Array) -> Array:
    if (v > 0).all():
        lv = np.log(v)
        return lv - lv.mean()
    return (v - v.mean()) / (np.abs(v).mean() + 1e-12)
