"""What is learnable: a learner that knows the world's true model *structure* (issue 16).

The normalised score measures a policy against the oracle, which knows the truth. A month of posts cannot
tell the truth exactly, so the bench also reports what a learner could reach that knows everything about the
world except the numbers of its effects:

- `StructureLearner.fit(...)` estimates the world's effects from posts with its true model form: the reach
  of a post is log-normal in the sum of its values' reach effects, its interactions' (the world's, by name),
  the UTC hour's and a penalty per repeat of its topic within the fatigue window (least squares on log
  impressions); its conversion effect C acts on the profile-click rate as `split * C` and on the log-odds of
  a profile click turning into a follow as `(1 - split) * C`, with the world's split (one joint Newton fit on
  profile clicks given impressions and follows given profile clicks). Effects have a N(0, 1) prior. It sees
  each post's *final* counters and *realised* follows, which no learner in the loop sees (the follower series
  blurs which post brought whom): an upper side of what the data carry.
- `LearnedWorld.best(day, recent_topics)` is the combination with the highest follows under the estimate
  (the same search as the oracle's `Audience.best_dimensions`, on the estimate).
- The policy "reference" (`engine`) posts uniformly at random for `REFERENCE_DAYS` days, then commits to the
  estimate's best (no more exploration, no more learning).
- The *free-exploration bound* (computed on every uniform run): on each day d, the follows of committing to
  the estimate from the uniform posts of days 0..d-1, as if that exploration had cost nothing. Its normalised
  score over the run is what a learner that explores for free reaches; a policy that pays for its
  exploration can beat it only by exploring better than uniformly.
- The same bound *from the counters* (`free_daily_expected_counters`): the estimate without the realised
  follows of each post, only their total, which is what the loop's data hold (impressions and profile clicks
  per post, the follower count over time). Where a world's best values differ mostly in conversion, the gap
  between the two bounds is what the per-post follows the loop cannot see are worth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from growthloop.adapters.platforms.sim.world import World

__all__ = ["REFERENCE_DAYS", "LearnedWorld", "StructureLearner"]

Array = NDArray[np.float64]
REFERENCE_DAYS = 7  # the reference policy explores uniformly this long, then commits
PRIOR_SD = 1.0  # effects' prior sd (log units), reach and conversion alike


@dataclass(frozen=True)
class LearnedWorld:
    """The estimated effects over every combination of values; `best` searches them like the oracle."""

    dims: tuple[str, ...]
    values: dict[str, tuple[str, ...]]
    index: NDArray[np.int64]  # (combinations, dims)
    score: Array  # log expected follows of each combination up to a constant, no fatigue
    topic_penalty: float  # log follows lost per repeat of the topic within the window
    window: int

    def best(self, day: int, recent_topics: Sequence[str]) -> dict[str, str]:
        score = self.score
        if "topic" in self.dims and recent_topics and self.window > 0:
            t = self.dims.index("topic")
            recent = list(recent_topics)[-self.window :]
            repeats = np.array([recent.count(v) for v in self.values["topic"]], dtype=float)
            score = score - self.topic_penalty * repeats[self.index[:, t]]
        row = self.index[int(np.argmax(score))]
        return {dim: self.values[dim][int(row[d])] for d, dim in enumerate(self.dims)}


class StructureLearner:
    """Fits a world's effects with its true model form (see the module doc)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.dims = tuple(world.dimensions)
        self.values = {d: tuple(v) for d, v in world.dimensions.items()}
        self.offsets: dict[str, int] = {}
        width = 0
        for d in self.dims:
            self.offsets[d] = width
            width += len(self.values[d])
        self.n_main = width
        self.interactions = [dict(i.when) for i in world.interactions]
        self.width = width + len(self.interactions) + 1  # mains, interactions, topic repeats
        self.window = world.fatigue.window
        self.split = world.funnel.conversion_split
        sizes = [len(self.values[d]) for d in self.dims]
        self.index = np.indices(sizes).reshape(len(sizes), -1).T.astype(np.int64)

    def design(self, rows: Sequence[Mapping[str, str]], repeats: Sequence[int]) -> Array:
        x = np.zeros((len(rows), self.width))
        for i, row in enumerate(rows):
            for d in self.dims:
                v = row.get(d)
                if v in self.values[d]:
                    x[i, self.offsets[d] + self.values[d].index(v)] = 1.0
            for k, when in enumerate(self.interactions):
                if all(row.get(d) == v for d, v in when.items()):
                    x[i, self.n_main + k] = 1.0
            x[i, -1] = float(repeats[i])
        return x

    def repeats(self, topics: Sequence[str]) -> list[int]:
        """Each post's repeats of its topic among the `window` posts before it."""
        out = []
        for i, t in enumerate(topics):
            out.append(list(topics[max(0, i - self.window) : i]).count(t) if self.window > 0 else 0)
        return out

    def fit(
        self,
        rows: Sequence[Mapping[str, str]],
        times: Array,
        impressions: Array,
        profile_clicks: Array,
        follows: Array,
        per_post_follows: bool = True,
    ) -> LearnedWorld:
        """The estimate from these posts. `per_post_follows=False` withholds who followed after which post
        (what the loop never sees): the conversion effects are then read from the profile clicks alone, and
        the follows only in total (what the follower count tells)."""
        topics = [r.get("topic", "") for r in rows]
        x = self.design(rows, self.repeats(topics))
        reach = _fit_reach(x, np.asarray(times, dtype=float), np.asarray(impressions, dtype=float))
        conv, follow_intercept = _fit_conversion(
            x,
            np.asarray(impressions, dtype=float),
            np.asarray(profile_clicks, dtype=float),
            np.asarray(follows, dtype=float),
            self.split,
            per_post_follows=per_post_follows,
        )
        return self._learned(reach, conv, follow_intercept)

    def _learned(self, reach: Array, conv: Array, follow_intercept: float) -> LearnedWorld:
        n = len(self.index)
        r = np.zeros(n)
        c = np.zeros(n)
        for d, dim in enumerate(self.dims):
            cols = self.offsets[dim] + self.index[:, d]
            r += reach[cols]
            c += conv[cols]
        for k, when in enumerate(self.interactions):
            mask = np.ones(n, dtype=bool)
            for dim, value in when.items():
                mask &= self.index[:, self.dims.index(dim)] == self.values[dim].index(value)
            r[mask] += reach[self.n_main + k]
            c[mask] += conv[self.n_main + k]
        s = self.split
        score = r + s * c + _log_sigmoid(follow_intercept + (1.0 - s) * c)
        # a repeat's penalty, at the typical combination (the follow probability's curvature is small)
        base = follow_intercept + (1.0 - s) * float(np.median(c))
        rep_r, rep_c = float(reach[-1]), float(conv[-1])
        per_repeat = rep_r + s * rep_c + float(_log_sigmoid(base + (1.0 - s) * rep_c) - _log_sigmoid(base))
        return LearnedWorld(self.dims, self.values, self.index, score, -per_repeat, self.window)


def _log_sigmoid(x: Array | float) -> Array:
    return np.asarray(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))


def _fit_reach(x: Array, times: Array, impressions: Array) -> Array:
    """Reach effects: ridge least squares of log impressions on the design and the UTC hour."""
    hours = np.asarray((times // 3600) % 24, dtype=np.int64)
    h = np.zeros((len(times), 24))
    h[np.arange(len(times)), hours] = 1.0
    z = np.hstack([np.ones((len(times), 1)), x, h])
    y = np.log(impressions + 0.5)
    resid_var = 1.0
    penalty = np.full(z.shape[1], 1.0 / PRIOR_SD**2)
    penalty[0] = 1e-6
    coef = np.zeros(z.shape[1])
    for _ in range(2):  # the noise variance, then the fit with it
        a = z.T @ z / resid_var + np.diag(penalty)
        coef = np.linalg.solve(a, z.T @ y / resid_var)
        resid_var = max(float(np.mean((y - z @ coef) ** 2)), 1e-3)
    return np.asarray(coef[1 : 1 + x.shape[1]], dtype=float)


def _fit_conversion(
    x: Array,
    impressions: Array,
    clicks: Array,
    follows: Array,
    split: float,
    iterations: int = 25,
    per_post_follows: bool = True,
) -> tuple[Array, float]:
    """Conversion effects C, jointly: clicks ~ Poisson(impressions e^(a + split C)), follows ~
    Binomial(clicks, sigmoid(b + (1 - split) C)). Returns (C per column, b). Without `per_post_follows` the
    follows' likelihood is left out: C from the clicks alone, b from the totals."""
    p = x.shape[1]
    s = split
    expo = np.maximum(impressions, 0.0)
    a = math.log(max(clicks.sum(), 0.5) / max(expo.sum(), 1.0))
    rate = max(follows.sum(), 0.5) / max(clicks.sum(), 1.0)
    rate = min(max(rate, 1e-3), 1 - 1e-3)
    b = math.log(rate / (1 - rate))
    c = np.zeros(p)
    weight_f = 1.0 if per_post_follows else 0.0  # 0: b keeps the totals' log-odds, C comes from the clicks
    log_expo = np.log(np.maximum(expo, 1e-9))
    has = expo > 0
    for _ in range(iterations):
        eta_c = np.where(has, log_expo + a + s * (x @ c), -np.inf)
        mu = np.where(has, np.exp(np.minimum(eta_c, 30.0)), 0.0)
        pf = 1.0 / (1.0 + np.exp(-(b + (1 - s) * (x @ c))))
        w_f = clicks * pf * (1 - pf) * weight_f
        r_c = clicks - mu
        r_f = (follows - clicks * pf) * weight_f
        grad = np.concatenate([[r_c.sum(), r_f.sum()], s * (x.T @ r_c) + (1 - s) * (x.T @ r_f) - c / PRIOR_SD**2])
        hess = np.zeros((p + 2, p + 2))
        hess[0, 0] = mu.sum() + 1e-6
        hess[1, 1] = w_f.sum() + 1e-6
        hess[0, 2:] = hess[2:, 0] = s * (x.T @ mu)
        hess[1, 2:] = hess[2:, 1] = (1 - s) * (x.T @ w_f)
        hess[2:, 2:] = s * s * (x.T * mu) @ x + (1 - s) ** 2 * (x.T * w_f) @ x + np.eye(p) / PRIOR_SD**2
        step = np.linalg.solve(hess, grad)
        step = np.clip(step, -2.0, 2.0)
        a += float(step[0])
        b += float(step[1])
        c = c + step[2:]
        if float(np.max(np.abs(step))) < 1e-6:
            break
    return c, b
