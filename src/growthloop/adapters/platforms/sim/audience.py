"""The simulated audience: a pure, deterministic model of what a post earns (docs/design.md#simulator).

No I/O, no persistence, no wall clock. Every draw comes from
`numpy.random.default_rng([world.seed, STREAM, key])` with a key the caller passes in (a post's sequence
number, a day index, a call index), so a simulation that is killed and resumed reproduces the same draws.
The Platform in `platform.py` keeps the state (sequence numbers, the follower count, when each post went out)
and asks this model for outcomes. `Audience(world, origin)` counts drift days from `origin` (default
`world.start`). Times must be timezone-aware; the hour of day is taken in UTC, shifted by `hours.utc_offset`.

    audience = Audience(world)                       # origin: world.start (needed only for drift)
    outcome = audience.draw_post(seq, dims, published_at, recent_topics)   # -> PostOutcome (final totals)
    audience.metrics_at(outcome, age_seconds)        # -> counters visible at that age (dict[str, int])
    audience.organic_events(day_index, followers)    # -> [(offset_seconds, +1 | -1), ...] for one day
    audience.expected_follows(dims, published_at, recent_topics)           # -> the truth, without drawing
    audience.true_effects(day_index)                 # -> {dim: {value: {"reach", "conversion", ...}}}
    audience.best_dimensions(day_index, recent_topics)                     # -> the oracle's choice
    audience.fault(call_index, kind)                 # -> Fault | None

The model of one post (every effect in natural-log units; see docs/worlds.md):

    R = sum of reach effects of its values (+ interactions, + drift shift) + hour(published_at) - fatigue
    C = sum of conversion effects (+ interactions, + drift shift) - conversion fatigue
    G = sum of engagement effects (+ interactions)
    impressions    ~ Poisson(median * exp(R + sigma * z) * V),  V = 1, or a viral multiplier with prob. p
    likes, ...     ~ Binomial(impressions, rate * exp(G + rate_sigma * z'))
    profile_clicks ~ Binomial(impressions, profile_click * exp(split * C + rate_sigma * z''))
    follows        ~ Binomial(profile_clicks, sigmoid(logit(follow_per_profile_click) + (1 - split) * C))
    follow delays  ~ Gamma(shape, mean), truncated to [0, max_hours]

`expected_follows` is the exact expectation of `follows` over every random draw (noise, virality, funnel),
given the post's values, hour and fatigue: the ground truth that attribution is scored against.

The random draws of a post are made in a fixed order before any count-dependent draw, so two posts with the
same `seq` and different dimensions share their noise (common random numbers): counterfactuals are comparable.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from growthloop.adapters.platforms.sim.world import Effect, World
from growthloop.domain import METRIC_COUNTERS

__all__ = [
    "STREAM_FAULT",
    "STREAM_ORGANIC",
    "STREAM_POST",
    "STREAM_TRUTH",
    "Audience",
    "Fault",
    "PostOutcome",
]

# Independent random streams: default_rng([world.seed, STREAM_*, key...]).
STREAM_POST = 1
STREAM_ORGANIC = 2
STREAM_FAULT = 3
STREAM_TRUTH = 4


DAY_SECONDS = 86400.0
_Triple = tuple[float, float, float]
_EXACT_GRID_LIMIT = 500_000  # combinations of dimension values enumerated exactly; above, Monte Carlo
_MC_SAMPLES = 200_000


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """Final totals of one post, its realised follows and the truth about it."""

    seq: int
    impressions: int
    likes: int
    reposts: int
    replies: int
    quotes: int
    bookmarks: int
    profile_clicks: int
    link_clicks: int
    follows: int  # realised follows caused by this post
    follow_delays: tuple[float, ...]  # seconds after publication, one per follow, sorted, in [0, max_hours]
    expected_follows: float  # TRUE expected follows given values, hour and fatigue (before any noise)
    expected_impressions: float  # TRUE expected impressions, likewise
    viral: bool  # the viral mixture fired
    day_index: int  # days since the audience's origin (drift regime)

    def totals(self) -> dict[str, int]:
        """The eight final counters, keyed as in METRIC_COUNTERS."""
        return {
            "impressions": self.impressions,
            "likes": self.likes,
            "reposts": self.reposts,
            "replies": self.replies,
            "quotes": self.quotes,
            "bookmarks": self.bookmarks,
            "profile_clicks": self.profile_clicks,
            "link_clicks": self.link_clicks,
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """An API fault the Platform should raise for one call."""

    kind: Literal["timeout", "rate_limited", "server_error"]
    retry_after_seconds: float | None  # rate_limited only: seconds until the limit resets
    applied: bool  # timeout only: the call took effect on the platform before the client gave up


@dataclass(frozen=True, slots=True)
class _Regime:
    start_day: int
    table: dict[tuple[str, str], _Triple]  # (dim, value) -> (reach, conversion, engagement)
    reach_shift: float
    conversion_shift: float


@dataclass(frozen=True, slots=True)
class _Grid:
    """All combinations of dimension values (or a fixed sample of them) with their summed effects."""

    dims: tuple[str, ...]
    index: np.ndarray  # (n, len(dims)) value indices
    reach: np.ndarray  # (n,) summed reach effects incl. interactions and the regime's shift
    conversion: np.ndarray
    engagement: np.ndarray


class Audience:
    """The hidden audience of a World. Pure: every method is a function of the world and its arguments."""

    def __init__(self, world: World, origin: datetime | None = None) -> None:
        self.world = world
        origin = origin if origin is not None else world.start
        if origin is not None:
            _require_aware(origin, "origin")
            origin = origin.astimezone(UTC)
        elif world.drift:
            raise ValueError("a world with drift needs `start` (or an explicit origin) to count days")
        self.origin = origin
        w = world
        self._seed = w.seed
        self._log_median = math.log(w.reach.median_impressions)
        self._sigma = w.reach.sigma
        self._hour_log = w.hours.log_multipliers()
        self._hour_mean = sum(math.exp(h) for h in self._hour_log) / 24.0
        v = w.virality
        self._p_viral = v.probability
        self._viral_factor = 1.0 - v.probability + v.probability * v.mean_multiplier()
        f = w.funnel
        self._rate_sigma = f.rate_sigma
        self._jitter_mean = math.exp(f.rate_sigma**2 / 2.0)
        self._impr_noise_mean = math.exp(self._sigma**2 / 2.0)
        self._split = f.conversion_split
        self._engagement_rates = (f.like, f.repost, f.reply, f.quote, f.bookmark, f.link_click)
        self._pc_rate = f.profile_click
        p0 = f.follow_per_profile_click
        self._logit_p0 = math.inf if p0 >= 1.0 else -math.inf if p0 <= 0.0 else math.log(p0 / (1.0 - p0))
        fd = w.follow_delay
        self._delay_shape = fd.shape
        self._delay_scale_s = fd.mean_hours * 3600.0 / fd.shape
        self._delay_max_s = fd.max_hours * 3600.0
        self._tau_s = w.accrual.tau_hours * 3600.0
        self._full_s = w.accrual.full_after_days * DAY_SECONDS
        self._fatigue = w.fatigue
        self._interactions = tuple((tuple(i.when.items()), i.reach, i.conversion, i.engagement) for i in w.interactions)
        self._regimes = self._build_regimes()
        self._regime_starts = [r.start_day for r in self._regimes]
        self._grids: dict[int, _Grid] = {}
        self._grid_index: np.ndarray | None = None
        self._faults_total = w.faults.timeout + w.faults.rate_limited + w.faults.server_error

    # ----------------------------------------------------------------------------------------------- posts

    def day_index(self, when: datetime) -> int:
        """Whole days from the origin to `when` (0 without an origin; never negative)."""
        _require_aware(when, "published_at")
        if self.origin is None:
            return 0
        return max(0, math.floor((when - self.origin).total_seconds() / DAY_SECONDS))

    def draw_post(
        self,
        seq: int,
        dimensions: Mapping[str, str],
        published_at: datetime,
        recent_topics: Sequence[str] = (),
    ) -> PostOutcome:
        """Final outcome of the post number `seq` (>= 0) with these values, published at `published_at`.

        `recent_topics` are the topics of the posts before it, oldest first (the last `fatigue.window` count).
        The draws depend only on (world.seed, seq) and the arguments.
        """
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        day = self.day_index(published_at)
        log_reach, conv, eng = self._log_effects(dimensions, published_at, recent_topics, day)
        exp_impr, exp_follows, pc_rate, p_follow = self._expectation(log_reach, conv)

        rng = np.random.default_rng([self._seed, STREAM_POST, seq])
        z = rng.standard_normal(4)
        u = rng.random(2)
        lam = math.exp(log_reach + self._sigma * float(z[0]))
        viral = bool(u[0] < self._p_viral)
        if viral:
            lam *= self._viral_multiplier(float(u[1]), float(z[3]))
        impressions = int(rng.poisson(min(lam, 1e12)))

        jitter_e = math.exp(eng + self._rate_sigma * float(z[1]))
        probs = [min(1.0, r * jitter_e) for r in self._engagement_rates]
        probs.append(min(1.0, pc_rate * math.exp(self._rate_sigma * float(z[2]))))
        if impressions > 0:
            likes, reposts, replies, quotes, bookmarks, link_clicks, profile_clicks = (
                int(x) for x in rng.binomial(impressions, probs)
            )
        else:
            likes = reposts = replies = quotes = bookmarks = link_clicks = profile_clicks = 0
        follows = int(rng.binomial(profile_clicks, p_follow)) if profile_clicks > 0 else 0
        delays = self._delays(rng, follows) if follows else ()
        return PostOutcome(
            seq=seq,
            impressions=impressions,
            likes=likes,
            reposts=reposts,
            replies=replies,
            quotes=quotes,
            bookmarks=bookmarks,
            profile_clicks=profile_clicks,
            link_clicks=link_clicks,
            follows=follows,
            follow_delays=delays,
            expected_follows=exp_follows,
            expected_impressions=exp_impr,
            viral=viral,
            day_index=day,
        )

    def expected_follows(
        self, dimensions: Mapping[str, str], published_at: datetime, recent_topics: Sequence[str] = ()
    ) -> float:
        """The true expected follows of such a post (what `draw_post` reports as `expected_follows`)."""
        day = self.day_index(published_at)
        log_reach, conv, _ = self._log_effects(dimensions, published_at, recent_topics, day)
        return self._expectation(log_reach, conv)[1]

    def metrics_at(self, outcome: PostOutcome, age_seconds: float) -> dict[str, int]:
        """Counters visible `age_seconds` after publication: total x (1 - exp(-age / tau)), rounded.

        Integer, non-decreasing in age, 0 at age <= 0, and the totals from `accrual.full_after_days` on.
        """
        if age_seconds >= self._full_s:
            return outcome.totals()
        if age_seconds <= 0.0:
            return dict.fromkeys(METRIC_COUNTERS, 0)
        f = 1.0 - math.exp(-age_seconds / self._tau_s)
        o = outcome
        return {
            "impressions": int(o.impressions * f + 0.5),
            "likes": int(o.likes * f + 0.5),
            "reposts": int(o.reposts * f + 0.5),
            "replies": int(o.replies * f + 0.5),
            "quotes": int(o.quotes * f + 0.5),
            "bookmarks": int(o.bookmarks * f + 0.5),
            "profile_clicks": int(o.profile_clicks * f + 0.5),
            "link_clicks": int(o.link_clicks * f + 0.5),
        }

    # ------------------------------------------------------------------------------------- organic, faults

    def organic_events(self, day_index: int, followers: int) -> list[tuple[float, int]]:
        """Organic follows (+1) and churn (-1) of day `day_index` (>= 0) for an account with `followers`.

        Returns (offset seconds within the day, +1 or -1), sorted by offset.
        Follows ~ Poisson(follows_per_day), unfollows ~ Binomial(followers, churn_per_day), times uniform over
        the day. The follows do not depend
        on `followers`, so they are the same whatever the account's size.
        """
        if day_index < 0:
            raise ValueError(f"day_index must be >= 0, got {day_index}")
        if followers < 0:
            raise ValueError(f"followers must be >= 0, got {followers}")
        rng = np.random.default_rng([self._seed, STREAM_ORGANIC, day_index])
        n_follow = int(rng.poisson(self.world.organic.follows_per_day))
        follow_at = rng.random(n_follow) * DAY_SECONDS
        n_churn = int(rng.binomial(followers, self.world.organic.churn_per_day)) if followers else 0
        churn_at = rng.random(n_churn) * DAY_SECONDS
        events = [(float(t), 1) for t in follow_at] + [(float(t), -1) for t in churn_at]
        events.sort()
        return events

    def fault(self, call_index: int, kind: str) -> Fault | None:
        """The API fault of call number `call_index` (>= 0) of a `kind` ("post", "metrics", ...), if any."""
        if self._faults_total <= 0.0:
            return None
        if call_index < 0:
            raise ValueError(f"call_index must be >= 0, got {call_index}")
        f = self.world.faults
        rng = np.random.default_rng([self._seed, STREAM_FAULT, call_index, zlib.crc32(kind.encode())])
        u0, u1 = (float(x) for x in rng.random(2))
        if u0 < f.timeout:
            return Fault("timeout", None, applied=u1 < f.timeout_applied)
        if u0 < f.timeout + f.rate_limited:
            return Fault("rate_limited", f.rate_limit_reset_seconds, applied=False)
        if u0 < self._faults_total:
            return Fault("server_error", None, applied=False)
        return None

    # ---------------------------------------------------------------------------------------------- truth

    def true_effects(self, day_index: int = 0) -> dict[str, dict[str, dict[str, float]]]:
        """The truth per dimension and value at day `day_index` (drift-aware).

        For each value: `reach`, `conversion`, `engagement` (its main effects, log units) and the marginal
        `expected_follows`, `expected_impressions`, `expected_likes` of a post with that value when every
        other dimension is uniformly random, the UTC hour uniform over 0-23 and no topic fatigue. Exact (all
        combinations enumerated) unless the world has more than 500,000 combinations; then a fixed-seed Monte
        Carlo over 200,000 of them.
        """
        regime = self._regime(day_index)
        grid = self._grid(day_index)
        e_impr, e_follows, e_likes = self._grid_expectations(grid, regime, grid.reach, grid.conversion)
        out: dict[str, dict[str, dict[str, float]]] = {}
        for d, dim in enumerate(grid.dims):
            values = self.world.dimensions[dim]
            col = grid.index[:, d]
            counts = np.bincount(col, minlength=len(values)).astype(float)
            counts[counts == 0] = np.nan
            sums = {
                "expected_follows": np.bincount(col, weights=e_follows, minlength=len(values)) / counts,
                "expected_impressions": np.bincount(col, weights=e_impr, minlength=len(values)) / counts,
                "expected_likes": np.bincount(col, weights=e_likes, minlength=len(values)) / counts,
            }
            out[dim] = {}
            for i, value in enumerate(values):
                r, c, g = regime.table.get((dim, value), (0.0, 0.0, 0.0))
                out[dim][value] = {
                    "reach": r,
                    "conversion": c,
                    "engagement": g,
                    "expected_follows": float(sums["expected_follows"][i]),
                    "expected_impressions": float(sums["expected_impressions"][i]),
                    "expected_likes": float(sums["expected_likes"][i]),
                }
        return out

    def hour_reach_effects(self) -> tuple[float, ...]:
        """Reach log multiplier of each UTC hour 0..23."""
        return self._hour_log

    def best_dimensions(self, day_index: int = 0, recent_topics: Sequence[str] = ()) -> dict[str, str]:
        """The values with the highest true expected follows at that day, given recent topics (the oracle).

        The hour is a separate choice (`hour_reach_effects`); it multiplies every combination alike.
        """
        regime = self._regime(day_index)
        grid = self._grid(day_index)
        reach, conv = grid.reach, grid.conversion
        if "topic" in grid.dims and recent_topics:
            t = grid.dims.index("topic")
            counts = self._topic_repeats(recent_topics)
            per_value = np.array([counts.get(v, 0) for v in self.world.dimensions["topic"]], dtype=float)
            repeats = per_value[grid.index[:, t]]
            reach = reach - self._fatigue.reach_penalty * repeats
            conv = conv - self._fatigue.conversion_penalty * repeats
        _, e_follows, _ = self._grid_expectations(grid, regime, reach, conv)
        best = grid.index[int(np.argmax(e_follows))]
        return {dim: self.world.dimensions[dim][int(best[d])] for d, dim in enumerate(grid.dims)}

    # ---------------------------------------------------------------------------------------------- inner

    def _build_regimes(self) -> list[_Regime]:
        def table_of(effects: Mapping[str, Mapping[str, Effect]]) -> dict[tuple[str, str], _Triple]:
            return {
                (dim, value): (e.reach, e.conversion, e.engagement)
                for dim, by_value in effects.items()
                for value, e in by_value.items()
            }

        table = table_of(self.world.effects)
        regimes = [_Regime(0, table, 0.0, 0.0)]
        reach_shift = conversion_shift = 0.0
        for change in self.world.drift:
            given = table_of(change.effects)
            if change.mode == "replace":
                table = given
            else:
                table = dict(table)
                for key, (r, c, g) in given.items():
                    r0, c0, g0 = table.get(key, (0.0, 0.0, 0.0))
                    table[key] = (r0 + r, c0 + c, g0 + g)
            reach_shift += change.reach_shift
            conversion_shift += change.conversion_shift
            regime = _Regime(change.day, table, reach_shift, conversion_shift)
            if regimes[-1].start_day == change.day:
                regimes[-1] = regime
            else:
                regimes.append(regime)
        return regimes

    def _regime(self, day_index: int) -> _Regime:
        return self._regimes[bisect_right(self._regime_starts, day_index) - 1]

    def _topic_repeats(self, recent_topics: Sequence[str]) -> dict[str, int]:
        window = self._fatigue.window
        counts: dict[str, int] = {}
        if window <= 0:
            return counts
        for topic in list(recent_topics)[-window:]:
            counts[topic] = counts.get(topic, 0) + 1
        return counts

    def _log_effects(
        self, dimensions: Mapping[str, str], published_at: datetime, recent_topics: Sequence[str], day: int
    ) -> tuple[float, float, float]:
        """(log expected median reach, conversion C, engagement G) of one post."""
        regime = self._regime(day)
        table = regime.table
        r = regime.reach_shift
        c = regime.conversion_shift
        g = 0.0
        for dim, value in dimensions.items():
            e = table.get((dim, value))
            if e is not None:
                r += e[0]
                c += e[1]
                g += e[2]
        for pairs, ir, ic, ig in self._interactions:
            if all(dimensions.get(dim) == value for dim, value in pairs):
                r += ir
                c += ic
                g += ig
        topic = dimensions.get("topic")
        if topic is not None and recent_topics and self._fatigue.window > 0:
            repeats = list(recent_topics)[-self._fatigue.window :].count(topic)
            r -= self._fatigue.reach_penalty * repeats
            c -= self._fatigue.conversion_penalty * repeats
        hour = published_at.astimezone(UTC).hour
        return self._log_median + r + self._hour_log[hour], c, g

    def _expectation(self, log_reach: float, conv: float) -> tuple[float, float, float, float]:
        """(expected impressions, expected follows, profile-click rate, follow probability) of one post."""
        exp_impr = math.exp(log_reach) * self._impr_noise_mean * self._viral_factor
        pc_rate = self._pc_rate * math.exp(self._split * conv)
        p_follow = _sigmoid(self._logit_p0 + (1.0 - self._split) * conv)
        exp_follows = exp_impr * min(1.0, pc_rate) * self._jitter_mean * p_follow
        return exp_impr, exp_follows, pc_rate, p_follow

    def _grid_expectations(
        self, grid: _Grid, regime: _Regime, reach: np.ndarray, conv: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Expected impressions, follows and likes of each combination (hour uniform; fatigue as given)."""
        base = math.exp(self._log_median) * self._hour_mean * self._impr_noise_mean * self._viral_factor
        e_impr = base * np.exp(reach)
        pc_rate = np.minimum(1.0, self._pc_rate * np.exp(self._split * conv))
        x = self._logit_p0 + (1.0 - self._split) * conv
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(-np.abs(x))  # a stable logistic: never exp of a large positive number
            p_follow = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        e_follows = e_impr * pc_rate * self._jitter_mean * p_follow
        e_likes = e_impr * self.world.funnel.like * np.exp(grid.engagement) * self._jitter_mean
        return e_impr, e_follows, e_likes

    def _grid(self, day_index: int) -> _Grid:
        key = bisect_right(self._regime_starts, day_index) - 1
        grid = self._grids.get(key)
        if grid is not None:
            return grid
        regime = self._regimes[key]
        dims = tuple(self.world.dimensions)
        sizes = [len(self.world.dimensions[d]) for d in dims]
        if self._grid_index is None:
            total = math.prod(sizes)
            if total <= _EXACT_GRID_LIMIT:
                index = np.indices(sizes).reshape(len(sizes), -1).T
            else:
                rng = np.random.default_rng([self._seed, STREAM_TRUTH])
                index = np.stack([rng.integers(0, s, _MC_SAMPLES) for s in sizes], axis=1)
            self._grid_index = np.ascontiguousarray(index)
        index = self._grid_index
        n = index.shape[0]
        reach = np.full(n, regime.reach_shift)
        conv = np.full(n, regime.conversion_shift)
        eng = np.zeros(n)
        for d, dim in enumerate(dims):
            values = self.world.dimensions[dim]
            effects = np.array([regime.table.get((dim, v), (0.0, 0.0, 0.0)) for v in values], dtype=float)
            col = index[:, d]
            reach += effects[col, 0]
            conv += effects[col, 1]
            eng += effects[col, 2]
        for pairs, ir, ic, ig in self._interactions:
            mask = np.ones(n, dtype=bool)
            for dim, value in pairs:
                d = dims.index(dim)
                mask &= index[:, d] == self.world.dimensions[dim].index(value)
            reach[mask] += ir
            conv[mask] += ic
            eng[mask] += ig
        grid = _Grid(dims, index, reach, conv, eng)
        self._grids[key] = grid
        return grid

    def _viral_multiplier(self, u: float, z: float) -> float:
        v = self.world.virality
        if v.distribution == "pareto":
            m: float = v.scale * (1.0 - u) ** (-1.0 / v.shape)  # float ** float is typed Any
        else:
            m = v.scale * math.exp(v.shape * z)
        return min(m, v.max_multiplier)

    def _delays(self, rng: np.random.Generator, n: int) -> tuple[float, ...]:
        draws = rng.gamma(self._delay_shape, self._delay_scale_s, n)
        for _ in range(20):
            over = draws > self._delay_max_s
            if not over.any():
                break
            draws[over] = rng.gamma(self._delay_shape, self._delay_scale_s, int(over.sum()))
        np.minimum(draws, self._delay_max_s, out=draws)
        draws.sort()
        return tuple(float(x) for x in draws)


def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _require_aware(when: datetime, name: str) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got {when!r}")
