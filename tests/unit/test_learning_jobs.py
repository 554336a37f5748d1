"""Stages 7 and 8 in the loop: the delay-kernel attribution and the Bayesian model, kept between runs."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, performance_tables, post_attribution
from growthloop.cli.app import app
from growthloop.config import Settings
from growthloop.learning import ATTRIBUTION_MODEL, ATTRIBUTION_VERSION, AttributionFit
from growthloop.loop import history
from growthloop.loop.evaluate import evaluate_logged
from growthloop.loop.history import FIT_STATE, MODEL_STATE, stored_model
from growthloop.loop.learn import read_performance
from tests.conftest import START, Loop


def _state(loop: Loop, key: str) -> Any:
    with loop.store.connect() as conn:
        return loop.store.get_state(conn, "default", key)


def _attribution(loop: Loop) -> list[Any]:
    pa, cm = post_attribution, content_metadata
    with loop.store.connect() as conn:
        return list(
            conn.execute(select(pa, cm.c.kind).join(cm, cm.c.decision_id == pa.c.decision_id).order_by(pa.c.posted_at))
        )


def test_posts_are_attributed_by_the_delay_kernel_with_an_uncertainty(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(96)  # the history the off-policy test below reads too (one simulation for both)
    rows = _attribution(loop)
    final = [r for r in rows if r.final]
    assert len(final) > 80  # the first two days' posts and replies
    assert {(r.method, r.method_version) for r in rows} == {(ATTRIBUTION_MODEL, ATTRIBUTION_VERSION)}
    assert all(r.attributed_followers is not None and r.attributed_sd is not None for r in final)
    assert all(r.attributed_followers >= 0 and r.attributed_sd >= 0 for r in final)
    # The seed's window figures are kept beside it, for comparison.
    assert all(r.window_delta is not None for r in final)
    # Shared out, not copied: the posts together are credited with about the follows they caused,
    # where window deltas credit every post with its ~96 neighbours' follows.
    total = sum(r.attributed_followers for r in final)
    assert total < 0.5 * sum(max(r.window_delta, 0) for r in final)


def test_the_fit_is_kept_and_each_run_adds_only_the_new_snapshots(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(24)  # a copy of the session's simulated day
    first = AttributionFit.from_dict(_state(loop, FIT_STATE))
    loop.run_for(4)
    second = AttributionFit.from_dict(_state(loop, FIT_STATE))
    assert second.fitted_until - first.fitted_until == pytest.approx(4 * 3600)
    assert second.surrogate == "profile_clicks"


def test_the_performance_tables_show_the_models_estimates(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(48)
    with loop.store.connect() as conn:
        model, as_of = stored_model(loop.store, conn, "default", loop.settings)
        tables = read_performance(loop.wiring.records, conn, "default")
    assert model is not None and as_of
    effects = model.value_effects()
    for dim, rows in tables.items():
        by_value = {e.value: e for e in effects[dim]}
        assert {r.value for r in rows} == set(loop.settings.buckets[dim])
        for r in rows:
            assert r.posterior_mean == pytest.approx(by_value[r.value].expected_follows)
            assert r.ci_low <= r.posterior_mean <= r.ci_high
            assert 0.0 <= r.confidence <= 1.0


def test_a_platform_without_impressions_or_profile_clicks_is_learned_from_its_engagements(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bluesky and Mastodon give neither counter: attribution falls back to engagements and says so."""
    original = loop.platform.metrics

    def without(platform_ids: Any, now: datetime) -> Any:
        return [dataclasses.replace(m, impressions=None, profile_clicks=None) for m in original(platform_ids, now)]

    monkeypatch.setattr(loop.platform, "metrics", without)
    loop.run_for(48)
    fit = AttributionFit.from_dict(_state(loop, FIT_STATE))
    assert fit.surrogate == "engagements"
    with loop.store.connect() as conn:
        model, _ = stored_model(loop.store, conn, "default", loop.settings)
        tables = read_performance(loop.wiring.records, conn, "default")
    assert model is not None and model.surrogate == "engagements"
    assert any("no profile clicks" in n for n in model.notes) or "reach" not in model.parts
    assert all(r.avg_impressions is None for rows in tables.values() for r in rows)
    assert sum(r.attributed_followers is not None for r in _attribution(loop)) > 50


def test_a_damaged_stored_fit_costs_a_cold_start_not_a_failing_job(
    simulated: Callable[[float], Loop], caplog: pytest.LogCaptureFixture
) -> None:
    loop = simulated(24)
    with loop.store.begin() as conn:
        loop.store.set_state(conn, "default", FIT_STATE, {"state_mean": "garbage"})
        loop.store.set_state(conn, "default", MODEL_STATE, {"model": {}})
    before = len(_attribution(loop))
    loop.clock.advance(2 * 3600)
    with caplog.at_level(logging.WARNING):
        loop.run("attribute")
        loop.run("learn")
    fit = AttributionFit.from_dict(_state(loop, FIT_STATE))  # rewritten, readable again
    assert fit.surrogate == "profile_clicks"
    assert "as_of" in _state(loop, MODEL_STATE)
    assert len(_attribution(loop)) >= before  # nothing lost


def test_learning_reads_no_further_back_than_its_history(loop: Loop) -> None:
    loop.wiring.settings = loop.settings.model_copy(
        update={"learning": loop.settings.learning.model_copy(update={"history_days": 1})}
    )
    loop.run_for(48)
    with loop.store.connect() as conn:
        model, _ = stored_model(loop.store, conn, "default", loop.settings)
    rows = _attribution(loop)
    last_day = [r for r in rows if r.posted_at > loop.clock.now() - timedelta(days=1)]
    assert model is not None and len(last_day) - 5 <= model.n_posts <= len(last_day) < len(rows) / 1.5


def test_off_policy_estimates_of_each_policy_from_the_logged_decisions(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(96)
    for target in ("uniform", "seed", "bayes"):
        result = evaluate_logged(loop.store, loop.wiring.records, loop.settings, "default", target, loop.clock.now())
        assert result.decisions > 80  # the posts of the first two days: final 48 hours on
        assert "bayes" in result.logged_by and set(result.logged_by) <= {"bayes", "uniform"}
        assert {"ips", "snips", "pseudo_inverse", "doubly_robust", "doubly_robust_clipped"} <= set(result.estimates)
        quoted = result.quoted
        assert quoted is not None and quoted.low <= quoted.value <= quoted.high
        assert np.isfinite(quoted.value) and quoted.value >= 0


def test_nothing_to_evaluate_before_any_attribution_is_final(loop: Loop) -> None:
    loop.run_for(6)
    result = evaluate_logged(loop.store, loop.wiring.records, loop.settings, "default", "uniform", loop.clock.now())
    assert result.decisions == 0 and result.estimates == {}
    assert result.notes == ["no post has a final attribution yet: nothing to evaluate"]


def test_tables_are_kept_per_value(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(30)
    with loop.store.connect() as conn:
        for dim, table in performance_tables.items():
            values = conn.execute(select(table.c[dim])).scalars().all()
            assert sorted(values) == sorted(loop.settings.buckets[dim])


def test_the_history_is_read_once_and_stays_what_the_database_holds(simulated: Callable[[float], Loop]) -> None:
    """Learning reads months every two hours: a process keeps what it read and adds what is new, checked
    by a count; what comes back is what a fresh read gives, at every step."""
    loop = simulated(30)
    settings = loop.settings
    checkpoints = tuple(settings.checkpoint_seconds())
    space = history.feature_space(settings)
    cache = loop.wiring.learning  # what the jobs keep between runs, owned by the wiring
    records = loop.wiring.records
    cache.histories.clear()

    def both() -> tuple[history.PostHistory, history.PostHistory]:
        now = loop.clock.now()
        since = now - timedelta(days=2)
        with loop.store.connect() as conn:
            fresh = history._read(records, conn, "default", checkpoints, space, since, now, False)
            kept = history.load_history(records, conn, "default", settings, since, now, cache=cache)
        return kept, fresh

    for _ in range(3):
        got, want = both()
        assert got.decision_ids == want.decision_ids and got.given == want.given
        assert np.array_equal(got.counters, want.counters, equal_nan=True)
        assert np.array_equal(got.times, want.times)
        assert np.array_equal(got.design, want.design)  # each post's features, fatigue included, computed once
        loop.run_for(5)  # new posts, new snapshots: read as increments
    (kept,) = cache.histories.values()
    assert kept.mark > 0 and len(kept.history) >= len(got)
    with loop.store.begin() as conn:  # an earlier post goes away: the count notices, all is read again
        gone = got.decision_ids[0]
        conn.execute(content_metadata.update().where(content_metadata.c.decision_id == gone).values(status="failed"))
    got, want = both()
    assert gone not in got.decision_ids and got.decision_ids == want.decision_ids


def test_learn_sees_a_change_in_the_world_and_says_so(store: SqlStore, settings: Settings) -> None:
    """From day 4 every post reaches a fifth of its audience: learn notices within hours, logs it, and the
    model keeps the change point, so that the facts before it weigh little from then on."""
    from growthloop.adapters.platforms.sim.world import default_world_path

    world = default_world_path().read_text() + "\n[[drift]]\nday = 4\nreach_shift = -1.6\n"
    loop = Loop(store, settings, world)
    try:
        with capture_logs() as logs:
            loop.run_for(5 * 24)
    finally:
        loop.scheduler.close()
    seen = [e for e in logs if e["event"] == "learning.change_detected"]
    assert seen, "learn did not say that the world changed"
    assert seen[0]["log_level"] == "warning" and seen[0]["z"] <= -5.0
    with store.connect() as conn:
        model, _ = stored_model(store, conn, "default", settings)
    assert model is not None and model.changed_at is not None
    change_day = (model.changed_at - START.timestamp()) / 86400
    assert 3.9 <= change_day <= 4.5
    shown = CliRunner().invoke(app, ["learn", "show", "--db", settings.database_url, "--dimension", "topic"])
    assert shown.exit_code == 0, shown.output
    assert "a change was detected: posts before 2026-03-0" in " ".join(shown.output.split())
