"""Change points (docs/design.md#learning, drift): a value whose recent posts stop doing what the model expects
is seen within a day, the facts before it then weigh little; a stationary world, a viral post or a value the model knew
little about raise nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from growthloop.adapters.platforms.sim.world import default_world_path, load_world
from growthloop.bench.engine import EngineConfig, run_policy
from growthloop.learning.attribution import AttributionFit, DelayKernel
from growthloop.learning.drift import FORGET, detect_change, drift_weights
from growthloop.learning.model import FeatureSpace, FollowsModel, Posterior, fatigue_counts, fit_follows_model

BUCKETS = {"topic": ["a", "b", "c", "d"], "tone": ["x", "y", "z"]}
REACH = {"topic": [0.4, 0.0, -0.2, -0.3], "tone": [-0.3, 0.1, 0.2]}
HOUR = 3600.0
START = 1_700_000_000.0
SPACE = FeatureSpace.of(BUCKETS)


def _posts(
    days: float, seed: int, change_at: float | None = None, reach_drop: float = 0.0, click_drop: float = 0.0
) -> dict[str, np.ndarray]:
    """A post every 30 minutes with uniform values; from `change_at` on, topic "a" loses reach or clicks."""
    rng = np.random.default_rng(seed)
    n = int(days * 48)
    t = START + 1800.0 * np.arange(n)
    rows = [{d: v[int(rng.integers(len(v)))] for d, v in BUCKETS.items()} for _ in range(n)]
    log_reach = np.array([sum(REACH[d][BUCKETS[d].index(r[d])] for d in BUCKETS) for r in rows])
    changed = (t >= change_at) & (np.array([r["topic"] for r in rows]) == "a") if change_at else np.zeros(n, bool)
    log_reach = log_reach - reach_drop * changed
    impressions = np.round(np.exp(math.log(300.0) + log_reach + 0.6 * rng.standard_normal(n)))
    clicks = rng.poisson(impressions * 0.02 * np.exp(-click_drop * changed)).astype(float)
    x = SPACE.encode(rows, ((t // HOUR) % 24).astype(int), fatigue_counts([r["topic"] for r in rows]))
    return {"t": t, "x": x, "impressions": impressions, "clicks": clicks}


def _conversion() -> AttributionFit:
    cols = int(SPACE.follow_columns("profile_clicks").sum()) + 1
    state = np.zeros(cols + 2)
    state[0] = math.log(0.2)
    return AttributionFit(state, np.eye(cols + 2) * 1e-4, DelayKernel(), "profile_clicks", 0.0)


def _fit(p: dict[str, np.ndarray], upto: float) -> FollowsModel:
    """The model as the last learn run left it: fitted on the posts up to `upto`, discounted for a week."""
    use = p["t"] <= upto
    return fit_follows_model(
        SPACE,
        p["x"][use],
        drift_weights(p["t"][use], upto, 7.0, None),
        _conversion(),
        np.full(int(use.sum()), 0.3),
        impressions=p["impressions"][use],
        profile_clicks=p["clicks"][use],
    )


def _check(p: dict[str, np.ndarray], model: FollowsModel, now: float):  # type: ignore[no-untyped-def]
    use = p["t"] <= now - 2 * HOUR  # counters of the last two hours not yet mature
    return detect_change(
        model,
        p["x"][use],
        p["t"][use],
        now,
        impressions=p["impressions"][use],
        profile_clicks=p["clicks"][use],
        completeness=np.ones(int(use.sum())),
    )


def test_a_value_that_loses_its_reach_is_seen_within_two_days() -> None:
    change_at = START + 10 * 86400
    p = _posts(11.5, seed=1, change_at=change_at, reach_drop=1.5)  # one post in four, a fifth of its reach
    now = change_at + 36 * HOUR
    change = _check(p, _fit(p, now - 2 * HOUR), now)
    assert change is not None
    assert (change.dimension, change.value, change.part) == ("topic", "a", "reach")
    assert change.z < -6.0
    assert abs(change.at - change_at) <= 8 * HOUR  # the start is found, not just "recently"
    assert "topic=a reach shifted by" in change.describe()


def test_a_value_whose_profile_clicks_collapse_is_seen_on_the_click_part() -> None:
    change_at = START + 10 * 86400
    # clicks fall to a fifth (log -1.5); a fall to 30% (-1.2) measures -6.0 here, at the threshold of 6
    p = _posts(11.5, seed=2, change_at=change_at, click_drop=1.5)
    now = change_at + 36 * HOUR
    change = _check(p, _fit(p, now - 2 * HOUR), now)
    assert change is not None
    assert (change.dimension, change.value, change.part) == ("topic", "a", "click")
    assert change.z < -6.0


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_stationary_world_raises_nothing(seed: int) -> None:
    p = _posts(11, seed=seed)
    for hours in range(0, 24, 6):
        now = START + 10 * 86400 + hours * HOUR
        assert _check(p, _fit(p, now - 2 * HOUR), now) is None


def test_a_viral_post_is_not_a_change() -> None:
    p = _posts(11, seed=6)
    now = START + 10.5 * 86400
    recent_a = np.nonzero((p["t"] > now - 12 * HOUR) & (p["x"][:, 1] > 0))[0]
    p["impressions"][recent_a[-3]] *= 2000.0  # one post reaches two thousand times its usual audience
    p["clicks"][recent_a[-3]] *= 2000.0
    assert _check(p, _fit(p, now - 2 * HOUR), now) is None


def test_a_value_the_model_barely_knew_is_not_a_change_when_it_turns_out_worse() -> None:
    """Topic "a" was hardly posted: its estimate is the prior's, and a first week of it is learning, not drift."""
    p = _posts(11, seed=7, change_at=START, reach_drop=1.0)  # "a" has always been this bad
    a = p["x"][:, 1] > 0
    early = a & (p["t"] < START + 10 * 86400)
    keep = ~early | (np.cumsum(early) <= 3)  # three posts of "a" in ten days, then a day of it
    p = {k: v[keep] for k, v in p.items()}
    now = START + 11 * 86400
    assert _check(p, _fit(p, now - 20 * HOUR), now) is None


def test_the_facts_before_a_change_weigh_forget_times_their_discount() -> None:
    t = START + np.array([0.0, 86400.0, 2 * 86400.0])
    now = START + 3 * 86400.0
    plain = drift_weights(t, now, 7.0, None)
    assert plain == pytest.approx(0.5 ** (np.array([3.0, 2.0, 1.0]) / 7.0))
    after = drift_weights(t, now, 7.0, START + 1.5 * 86400)
    assert after == pytest.approx(plain * np.array([FORGET, FORGET, 1.0]))


def test_the_change_point_is_kept_with_the_model() -> None:
    import json

    p = _posts(3, seed=8)
    model = fit_follows_model(
        SPACE,
        p["x"],
        np.ones(len(p["t"])),
        _conversion(),
        np.full(len(p["t"]), 0.3),
        impressions=p["impressions"],
        profile_clicks=p["clicks"],
        changed_at=START + 86400.0,
    )
    again = FollowsModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.changed_at == START + 86400.0
    older = model.to_dict()
    del older["changed_at"]  # a model stored before change points
    assert FollowsModel.from_dict(older).changed_at is None


@pytest.mark.slow
def test_the_bench_sees_the_drift_world_change_on_its_day_and_nothing_in_the_default_world() -> None:
    drift = load_world(default_world_path().parent / "drift.toml")  # effects change on day 12
    config = EngineConfig(ope=False)
    run = run_policy(drift, 1, "bayes", 14.0, config)
    seen = run.figures["changes"]
    assert seen, "the change of day 12 was not seen"
    assert 12.0 <= seen[0]["from_day"] < 12.5 and seen[0]["seen_day"] < 13.0
    blind = run_policy(drift, 1, "bayes", 14.0, EngineConfig(ope=False, learning={"detect_changes": False}))
    after = slice(13 * 48, 14 * 48)  # the day after: adapted against still following the old winners
    assert run.expected_follows[after].sum() > 1.5 * blind.expected_follows[after].sum()
    steady = run_policy(load_world(default_world_path()), 1, "bayes", 14.0, config)
    assert steady.figures["changes"] == []


def test_against_before_lets_a_misfit_the_model_always_had_pass_and_still_sees_a_change() -> None:
    """`against_before`: a value's later posts against its own earlier ones. A model wrong about topic "a" all
    along (its reach estimate 1.0 too low, as a shrinking prior or an interaction may leave it) is flagged by the
    check against the model alone, not by the one against before; a real drop is seen by both."""
    import dataclasses

    p = _posts(11, seed=9)
    now = START + 10.5 * 86400
    model = _fit(p, now - 2 * HOUR)
    reach = model.parts["reach"]
    col = SPACE.value_slices["topic"].start  # topic "a"
    biased = dataclasses.replace(
        model, parts={**model.parts, "reach": Posterior(reach.mean - 1.0 * (np.arange(SPACE.width) == col), reach.cov)}
    )
    use = p["t"] <= now - 2 * HOUR
    args = dict(
        impressions=p["impressions"][use], profile_clicks=p["clicks"][use], completeness=np.ones(int(use.sum()))
    )
    alone = detect_change(biased, p["x"][use], p["t"][use], now, **args)
    assert alone is not None and (alone.dimension, alone.value, alone.part) == ("topic", "a", "reach")
    assert detect_change(biased, p["x"][use], p["t"][use], now, against_before=True, **args) is None

    change_at = START + 10 * 86400
    q = _posts(11.5, seed=1, change_at=change_at, reach_drop=1.5)
    later = change_at + 36 * HOUR
    fitted = _fit(q, later - 2 * HOUR)
    use = q["t"] <= later - 2 * HOUR
    args = dict(
        impressions=q["impressions"][use], profile_clicks=q["clicks"][use], completeness=np.ones(int(use.sum()))
    )
    seen = detect_change(fitted, q["x"][use], q["t"][use], later, against_before=True, **args)
    assert seen is not None and (seen.dimension, seen.value, seen.part) == ("topic", "a", "reach")
    assert abs(seen.at - change_at) <= 8 * HOUR
    assert detect_change(fitted, q["x"][use], q["t"][use], later, against_before=True, threshold=1e9, **args) is None


def test_the_default_threshold_is_six_standard_errors_a_shift_of_five_and_a_half_is_not_a_change() -> None:
    """Issue 16: at 5 standard errors the check fired in 5 of 50 stationary bench runs, at 6 in 2 of 50, and
    the drift world's change (6.4-7.4 at its first check) is seen at the same check."""
    import dataclasses

    from growthloop.config import Settings
    from growthloop.learning.drift import CHANGE_Z

    assert CHANGE_Z == Settings().learning.change_threshold == 6.0
    p = _posts(11, seed=9)
    now = START + 10.5 * 86400
    model = _fit(p, now - 2 * HOUR)
    reach = model.parts["reach"]
    col = SPACE.value_slices["topic"].start
    off = dataclasses.replace(  # topic "a" 0.7 better than the model says: 5.5 standard errors
        model, parts={**model.parts, "reach": Posterior(reach.mean - 0.7 * (np.arange(SPACE.width) == col), reach.cov)}
    )
    use = p["t"] <= now - 2 * HOUR
    args = dict(
        impressions=p["impressions"][use], profile_clicks=p["clicks"][use], completeness=np.ones(int(use.sum()))
    )
    at_five = detect_change(off, p["x"][use], p["t"][use], now, threshold=5.0, **args)
    assert at_five is not None and 5.0 < at_five.z < 6.0
    assert detect_change(off, p["x"][use], p["t"][use], now, **args) is None


def test_the_quick_test_of_every_value_at_once_skips_no_value_the_scan_would_report() -> None:
    """`_may_shift` (every value's noise-only test in one pass) must be True wherever `_scan` finds a change;
    without the model's own uncertainty the scan's z is the noise-only ratio, so a limit at a reported change's
    size is the border case (a pre-test 0.1% too strict fails here)."""
    from growthloop.learning.drift import _may_shift, _Residuals, _scan

    rng = np.random.default_rng(3)
    found = 0
    for trial in range(40):
        n = 150
        x = SPACE.encode(
            [{d: str(rng.choice(v)) for d, v in BUCKETS.items()} for _ in range(n)], rng.integers(0, 24, n)
        )
        t = START + np.sort(rng.uniform(0, 3 * 86400, n))
        shift = rng.normal(0, 0.6, x.shape[1])
        if trial % 2:
            e = rng.uniform(0.5, 20, n)
            clicks = rng.poisson(e * np.exp(x @ shift * 0.5)).astype(float)
            part = _Residuals("click", clicks, e, np.ones(n, dtype=bool), np.zeros((x.shape[1], x.shape[1])), 0.1)
        else:
            part = _Residuals(
                "reach",
                rng.normal(x @ shift * 0.3, 0.5),
                np.full(n, 0.25),
                np.ones(n, dtype=bool),
                np.zeros((x.shape[1], x.shape[1])),
            )
        base = rng.random(n) < 0.9
        maybe = _may_shift(part, x, base, 4.0)
        for col in range(1, 1 + SPACE.n_values):
            hit = _scan(part, x, t, base & (x[:, col] > 0), 4.0)
            if hit is not None:
                found += 1
                assert maybe[col]
                # at a limit of exactly the change's size too (the scan reports it, just)
                assert _scan(part, x, t, base & (x[:, col] > 0), abs(hit[1])) is not None
                assert _may_shift(part, x, base, abs(hit[1]))[col]
    assert found > 5  # the test saw changes to miss
