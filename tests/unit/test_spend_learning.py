"""Learning counts the cost (learning/cost.py, spend/policy.py): a link is a content choice with its own price;
the planner can maximise followers per dollar; a cap keeps dear choices out; a degraded budget plans no links."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import platform_usage
from growthloop.bootstrap import ensure_account, make_records
from growthloop.config import Settings
from growthloop.learning.cost import PRICED_DIMENSION, CostAwarePolicy, cost_aware, counting_cost, value_cost
from growthloop.learning.policies import BayesPolicy, UniformPolicy
from growthloop.loop.spend import budget_guard
from growthloop.spend.prices import price_table
from growthloop.spend.settings import SpendSettings

X = price_table("x", {})
BUCKETS = {
    "topic": ("sleep", "focus"),
    PRICED_DIMENSION: ("single_insight", "thread_deep_dive", "link"),
}


def test_what_each_format_costs_on_x() -> None:
    assert value_cost("link", X) == pytest.approx(0.200)
    assert value_cost("single_insight", X) == pytest.approx(0.015)
    assert value_cost("thread_deep_dive", X) == pytest.approx(0.045)
    assert value_cost("link", price_table("bluesky", {})) == 0.0


def _bayes(link_effect: float) -> BayesPolicy:
    """A Bayes policy whose posterior is sure the link converts `link_effect` (log) better than the rest."""
    k = len(BUCKETS[PRICED_DIMENSION])
    mean = np.array([0.0, 0.1, link_effect])
    space = SimpleNamespace(value_slices={PRICED_DIMENSION: slice(0, k)})
    model = SimpleNamespace(space=space, posterior=SimpleNamespace(mean=mean, cov=np.eye(k) * 1e-4), sampling_cov=None)
    p = object.__new__(BayesPolicy)
    p.model, p.buckets, p.exploration, p.draws, p.seed = model, dict(BUCKETS), 0.02, 512, 1  # type: ignore[assignment]
    p.leader_share = 1.0  # plain Thompson sampling, the default
    wins = np.zeros(k)
    wins[int(np.argmax(mean))] = 1.0
    p._static = {"topic": np.array([0.5, 0.5]), PRICED_DIMENSION: p._mix(wins)}
    p._fatigue_dim, p._topic_samples = None, None
    return p


def test_followers_per_dollar_gives_up_a_link_that_converts_better_but_costs_13x() -> None:
    inner = _bayes(link_effect=1.0)  # e^1 = 2.7x the follows, for 13.3x the price
    followers = inner.distribution()[PRICED_DIMENSION]
    assert np.argmax(followers) == 2  # for followers alone, the link wins
    per_dollar = CostAwarePolicy(inner, X, "followers_per_dollar", None, temperature=1.0)
    p = per_dollar.distribution()[PRICED_DIMENSION]
    assert np.argmax(p) == 0 and p[2] < 0.02  # per dollar, the plain post wins; the link keeps the floor
    assert per_dollar.decide(np.random.default_rng(0)).dimensions[PRICED_DIMENSION] in BUCKETS[PRICED_DIMENSION]
    # a link worth far more than its price still wins per dollar
    assert (
        np.argmax(CostAwarePolicy(_bayes(4.0), X, "followers_per_dollar", None).distribution()[PRICED_DIMENSION]) == 2
    )


def test_the_cap_on_cost_per_post_keeps_dear_choices_out() -> None:
    uniform = UniformPolicy(BUCKETS)
    assert cost_aware(uniform, X, "followers", 0.25) is uniform  # nothing is dearer than $0.25: unchanged
    capped = cost_aware(uniform, X, "followers", 0.05)
    p = capped.distribution()[PRICED_DIMENSION]
    assert p[2] == 0.0 and p.sum() == pytest.approx(1.0)
    _, props = capped.prob({"topic": "sleep", PRICED_DIMENSION: "link"})
    assert props[PRICED_DIMENSION] == 0.0  # its propensities are the ones drawn with
    assert cost_aware(uniform, price_table("bluesky", {}), "followers_per_dollar", None) is uniform  # free: as is


def test_the_default_settings_change_nothing_on_the_default_buckets(settings: Settings) -> None:
    uniform = UniformPolicy({d: tuple(v) for d, v in settings.buckets.items()})
    assert counting_cost(uniform, settings) is uniform


def test_a_degraded_budget_plans_no_link_posts(store: SqlStore, settings: Settings) -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    ensure_account(store, settings, now)
    budgeted = settings.model_copy(update={"spend": SpendSettings(daily_budget_usd=1.0)})
    policy = UniformPolicy(BUCKETS)
    with store.connect() as conn:
        assert budget_guard(policy, make_records(store), conn, budgeted, settings.account, now) is policy
    with store.begin() as conn:
        conn.execute(
            platform_usage.insert().values(
                account=settings.account,
                platform="x",
                endpoint="POST /2/tweets",
                category="post_create",
                purpose="post",
                at=now,
                day="2026-03-10",
                resources=1,
                billed=60,
                unit_micros=15_000,
                cost_micros=900_000,
                resource_ids=[],
            )
        )
    with store.connect() as conn:
        guarded = budget_guard(policy, make_records(store), conn, budgeted, settings.account, now)
    assert guarded.distribution()[PRICED_DIMENSION][2] == 0.0
