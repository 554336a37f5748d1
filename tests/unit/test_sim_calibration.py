"""The simulated audience: calibrated to the seed's account (docs/design.md#simulator), deterministic, true to
its truth."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from growthloop.adapters.platforms.sim.audience import Audience, PostOutcome
from growthloop.adapters.platforms.sim.world import DEFAULT_DIMENSIONS, World, load_world, parse_world
from growthloop.domain import METRIC_COUNTERS

# The default world leaves its start open (simulate starts --days ago); the model needs a day 0.
ORIGIN = datetime(2025, 11, 3, tzinfo=UTC)

POSTS_PER_MONTH = 1440  # every 30 minutes for 30 days
SEEDS = range(10)
HOUR = 3600.0


@pytest.fixture(scope="module")
def world() -> World:
    from growthloop.adapters.platforms.sim.world import default_world_path

    return load_world(default_world_path())


def random_dimensions(rng: np.random.Generator, dims: dict[str, list[str]] = DEFAULT_DIMENSIONS) -> dict[str, str]:
    return {dim: values[int(rng.integers(len(values)))] for dim, values in dims.items()}


@dataclass
class Month:
    outcomes: list[PostOutcome]
    organic_net: int

    @property
    def median_impressions(self) -> float:
        return statistics.median(o.impressions for o in self.outcomes)

    @property
    def median_likes(self) -> float:
        return statistics.median(o.likes for o in self.outcomes)

    @property
    def max_over_median(self) -> float:
        return max(o.impressions for o in self.outcomes) / self.median_impressions

    @property
    def gained(self) -> int:
        return sum(o.follows for o in self.outcomes) + self.organic_net


def simulate_month(world: World) -> Month:
    """Uniform-random posting every 30 minutes for 30 days, with the Audience alone."""
    audience = Audience(world, origin=ORIGIN)
    rng = np.random.default_rng([world.seed, 99])
    recent: list[str] = []
    outcomes = []
    for seq in range(POSTS_PER_MONTH):
        dims = random_dimensions(rng, world.dimensions)
        outcomes.append(audience.draw_post(seq, dims, ORIGIN + timedelta(minutes=30 * seq), recent))
        recent.append(dims["topic"])
    followers, organic_net = world.initial_followers, 0
    for day in range(30):
        followers += sum(o.follows for o in outcomes[day * 48 : (day + 1) * 48])
        change = sum(sign for _, sign in audience.organic_events(day, followers))
        followers += change
        organic_net += change
    return Month(outcomes, organic_net)


@pytest.fixture(scope="module")
def months(world: World) -> dict[int, Month]:
    return {seed: simulate_month(world.with_seed(seed)) for seed in SEEDS}


# ------------------------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("seed", SEEDS)
def test_most_posts_get_10_to_200_impressions_and_0_to_1_likes(months: dict[int, Month], seed: int) -> None:
    month = months[seed]
    assert 10 <= month.median_impressions <= 200
    assert month.median_likes <= 1


def test_a_rare_hit_is_far_above_the_median(months: dict[int, Month]) -> None:
    heavy = [seed for seed, m in months.items() if m.max_over_median >= 30]
    assert len(heavy) >= 7, {seed: round(m.max_over_median) for seed, m in months.items()}


def test_viral_posts_are_rare(months: dict[int, Month]) -> None:
    for month in months.values():
        assert sum(o.viral for o in month.outcomes) <= 20


def test_a_month_of_random_posting_gains_about_100_to_400_followers(months: dict[int, Month]) -> None:
    gains = [m.gained for m in months.values()]
    assert 100 <= statistics.median(gains) <= 400, gains
    assert all(50 <= g <= 800 for g in gains), gains
    expected = [sum(o.expected_follows for o in m.outcomes) for m in months.values()]
    assert all(100 <= e <= 400 for e in expected), expected


def test_realised_follows_match_their_expectation(months: dict[int, Month]) -> None:
    realised = sum(o.follows for m in months.values() for o in m.outcomes)
    expected = sum(o.expected_follows for m in months.values() for o in m.outcomes)
    assert realised == pytest.approx(expected, rel=0.15)


def test_counters_never_exceed_impressions(months: dict[int, Month]) -> None:
    for o in months[0].outcomes:
        for name in METRIC_COUNTERS[1:]:
            assert 0 <= getattr(o, name) <= o.impressions
        assert 0 <= o.follows <= o.profile_clicks


# ------------------------------------------------------------------------------------------- determinism


def test_same_seed_same_outcomes_in_any_order(world: World) -> None:
    rng = np.random.default_rng(5)
    posts = [(seq, random_dimensions(rng), ORIGIN + timedelta(minutes=30 * seq)) for seq in range(200)]
    first = [Audience(world).draw_post(seq, d, at, ("sleep",)) for seq, d, at in posts]
    resumed = Audience(world)  # a fresh process after a kill, drawing the later posts first
    second = [resumed.draw_post(seq, d, at, ("sleep",)) for seq, d, at in reversed(posts)][::-1]
    assert first == second
    other = [Audience(world.with_seed(world.seed + 1)).draw_post(seq, d, at) for seq, d, at in posts]
    assert [o.impressions for o in other] != [o.impressions for o in first]


def test_organic_events_are_deterministic_and_within_the_day(world: World) -> None:
    audience = Audience(world, origin=ORIGIN)
    for day in range(10):
        events = audience.organic_events(day, 200)
        assert events == Audience(world).organic_events(day, 200)
        assert all(0.0 <= t < 86400.0 and sign in (1, -1) for t, sign in events)
        assert [t for t, _ in events] == sorted(t for t, _ in events)
        joins = [t for t, sign in events if sign == 1]
        assert joins == [t for t, sign in audience.organic_events(day, 0) if sign == 1]
        assert all(sign == 1 for _, sign in audience.organic_events(day, 0))
    churn = sum(-1 for day in range(200) for _, s in audience.organic_events(day, 1000) if s == -1)
    assert -churn == pytest.approx(200 * 1000 * world.organic.churn_per_day, rel=0.1)


# ----------------------------------------------------------------------------------------------- metrics


@settings(max_examples=60, deadline=None)
@given(
    seq=st.integers(min_value=0, max_value=10**9),
    picks=st.lists(st.integers(min_value=0, max_value=5), min_size=6, max_size=6),
    ages=st.lists(st.floats(min_value=-HOUR, max_value=10 * 24 * HOUR), min_size=2, max_size=8),
)
def test_metrics_at_is_monotone_integer_and_reaches_the_totals(seq: int, picks: list[int], ages: list[float]) -> None:
    world = _default_world()
    audience = Audience(world, origin=ORIGIN)
    dims = {dim: values[p % len(values)] for (dim, values), p in zip(DEFAULT_DIMENSIONS.items(), picks)}
    outcome = audience.draw_post(seq, dims, datetime(2025, 11, 5, 14, tzinfo=UTC))
    previous = dict.fromkeys(METRIC_COUNTERS, 0)
    for age in sorted(ages):
        seen = audience.metrics_at(outcome, age)
        assert set(seen) == set(METRIC_COUNTERS)
        for name in METRIC_COUNTERS:
            assert isinstance(seen[name], int)
            assert previous[name] <= seen[name] <= getattr(outcome, name)
        previous = seen
    assert audience.metrics_at(outcome, 0) == dict.fromkeys(METRIC_COUNTERS, 0)
    assert audience.metrics_at(outcome, 7 * 24 * HOUR) == outcome.totals()


def test_follow_delays_are_within_48_hours(months: dict[int, Month]) -> None:
    outcomes = [o for m in months.values() for o in m.outcomes if o.follows]
    assert outcomes
    for o in outcomes:
        assert len(o.follow_delays) == o.follows
        assert all(0.0 <= d <= 48 * HOUR for d in o.follow_delays)
        assert list(o.follow_delays) == sorted(o.follow_delays)
    delays = [d for o in outcomes for d in o.follow_delays]
    assert 2 * HOUR < statistics.mean(delays) < 12 * HOUR


# ----------------------------------------------------------------------------------------------- truth


def test_true_marginals_match_the_per_post_expectations(world: World) -> None:
    """true_effects (enumerated) agrees with expected_follows of individual posts averaged uniformly."""
    audience = Audience(world, origin=ORIGIN)
    truth = audience.true_effects()
    rng = np.random.default_rng(3)
    for value in ("sleep", "focus", "exercise"):
        total = 0.0
        n = 4000
        for i in range(n):
            dims = random_dimensions(rng) | {"topic": value}
            total += audience.expected_follows(dims, datetime(2025, 11, 3, i % 24, tzinfo=UTC))
        assert total / n == pytest.approx(truth["topic"][value]["expected_follows"], rel=0.05)


def test_values_with_more_true_follows_get_more_realised_follows(world: World) -> None:
    audience = Audience(world, origin=ORIGIN)
    truth = audience.true_effects()
    n = 1500
    for dim, by_value in truth.items():
        ranked = sorted(by_value, key=lambda v: by_value[v]["expected_follows"])
        worst, best = ranked[0], ranked[-1]
        assert by_value[best]["expected_follows"] > 1.3 * by_value[worst]["expected_follows"]
        rng = np.random.default_rng([11, len(dim)])
        follows = {best: 0, worst: 0}
        for seq in range(n):
            dims = random_dimensions(rng)
            at = ORIGIN + timedelta(minutes=30 * seq)
            for value in (best, worst):  # the same seq: common random numbers
                follows[value] += audience.draw_post(seq, dims | {dim: value}, at).follows
        assert follows[best] > follows[worst], (dim, best, worst, follows)


def test_likes_and_follows_favour_different_values(world: World) -> None:
    truth = Audience(world).true_effects()
    differ = [
        dim
        for dim, by_value in truth.items()
        if max(by_value, key=lambda v: by_value[v]["expected_likes"])
        != max(by_value, key=lambda v: by_value[v]["expected_follows"])
    ]
    assert len(differ) >= 2, differ


def test_true_effects_report_every_value_with_zero_for_unnamed_ones() -> None:
    world = parse_world('name = "x"\nseed = 1\n[effects.topic]\nsleep = { reach = 0.5 }\n')
    truth = Audience(world).true_effects()
    assert {dim: set(v) for dim, v in truth.items()} == {dim: set(v) for dim, v in DEFAULT_DIMENSIONS.items()}
    assert truth["topic"]["sleep"]["reach"] == 0.5
    assert truth["topic"]["focus"]["reach"] == truth["tone"]["witty"]["conversion"] == 0.0
    sleep, focus = truth["topic"]["sleep"], truth["topic"]["focus"]
    assert sleep["expected_follows"] / focus["expected_follows"] == pytest.approx(np.exp(0.5), rel=1e-9)
    tone = truth["tone"]
    assert tone["witty"]["expected_follows"] == pytest.approx(tone["casual"]["expected_follows"])


def test_unknown_values_have_no_effect(world: World) -> None:
    audience = Audience(world, origin=ORIGIN)
    at = datetime(2025, 11, 4, 12, tzinfo=UTC)
    base = {"tone": "casual"}
    assert audience.expected_follows(base | {"topic": "gardening"}, at) == audience.expected_follows(base, at)


def test_fatigue_lowers_expected_follows(world: World) -> None:
    audience = Audience(world, origin=ORIGIN)
    at = datetime(2025, 11, 4, 12, tzinfo=UTC)
    dims = {"topic": "sleep", "angle": "how_to"}
    fresh = audience.expected_follows(dims, at, ["focus"] * 6)
    tired = audience.expected_follows(dims, at, ["sleep"] * 3 + ["focus"] * 3)
    old = audience.expected_follows(dims, at, ["sleep"] * 5 + ["focus"] * 6)  # outside the window of 6
    assert tired < fresh and old == fresh


def test_best_dimensions_beat_other_combinations(world: World) -> None:
    audience = Audience(world, origin=ORIGIN)
    at = datetime(2025, 11, 4, 12, tzinfo=UTC)
    recent = ["sleep"] * 6
    best = audience.best_dimensions(0, recent)
    top = audience.expected_follows(best, at, recent)
    rng = np.random.default_rng(8)
    for _ in range(300):
        assert audience.expected_follows(random_dimensions(rng), at, recent) <= top


def test_drift_changes_the_truth_from_its_day_on() -> None:
    text = (
        'name = "drifting"\nseed = 4\nstart = 2025-11-03T00:00:00Z\n'
        "[effects.topic]\nsleep = { reach = 0.6 }\nfocus = { reach = -0.6 }\n"
        '[[drift]]\nday = 10\nmode = "replace"\neffects.topic.focus = { reach = 0.6 }\n'
    )
    audience = Audience(parse_world(text))
    before, after = audience.true_effects(9)["topic"], audience.true_effects(10)["topic"]
    assert before["sleep"]["expected_follows"] > before["focus"]["expected_follows"]
    assert after["focus"]["expected_follows"] > after["sleep"]["expected_follows"]
    assert after["sleep"]["reach"] == 0.0 and after["focus"]["reach"] == 0.6
    day9 = datetime(2025, 11, 12, 23, tzinfo=UTC)
    day10 = datetime(2025, 11, 13, 23, tzinfo=UTC)
    assert audience.draw_post(1, {"topic": "focus"}, day9).day_index == 9
    focus = {"topic": "focus"}
    ratio = audience.expected_follows(focus, day10) / audience.expected_follows(focus, day9)
    assert ratio == pytest.approx(np.exp(1.2))


def test_drift_without_a_start_is_refused() -> None:
    world = parse_world('name = "x"\nseed = 1\n[[drift]]\nday = 3\n')
    with pytest.raises(ValueError, match="start"):
        Audience(world)
    Audience(world, origin=datetime(2025, 1, 1, tzinfo=UTC))


def test_naive_times_are_refused(world: World) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Audience(world).draw_post(0, {}, datetime(2025, 11, 3, 12))


# ------------------------------------------------------------------------------------------------ faults


def test_default_world_has_no_faults(world: World) -> None:
    audience = Audience(world, origin=ORIGIN)
    assert all(audience.fault(i, kind) is None for i in range(500) for kind in ("post", "metrics"))


def test_faults_are_deterministic_and_at_their_rates() -> None:
    world = parse_world(
        'name = "flaky"\nseed = 2\n[faults]\ntimeout = 0.1\nrate_limited = 0.05\nserver_error = 0.05\n'
        "rate_limit_reset_seconds = 600\n"
    )
    audience = Audience(world, origin=ORIGIN)
    faults = [audience.fault(i, "post") for i in range(4000)]
    assert faults == [Audience(world).fault(i, "post") for i in range(4000)]
    kinds = [f.kind for f in faults if f is not None]
    assert kinds.count("timeout") == pytest.approx(400, rel=0.2)
    assert kinds.count("rate_limited") == pytest.approx(200, rel=0.25)
    assert kinds.count("server_error") == pytest.approx(200, rel=0.25)
    assert all(f.retry_after_seconds == 600 for f in faults if f is not None and f.kind == "rate_limited")
    applied = [f.applied for f in faults if f is not None and f.kind == "timeout"]
    assert 0 < sum(applied) < len(applied)
    assert faults != [audience.fault(i, "metrics") for i in range(4000)]


_DEFAULT: World | None = None


def _default_world() -> World:
    global _DEFAULT
    if _DEFAULT is None:
        from growthloop.adapters.platforms.sim.world import default_world_path

        _DEFAULT = load_world(default_world_path())
    return _DEFAULT
