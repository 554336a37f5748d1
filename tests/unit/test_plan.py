"""Stages 1-3 and 9: the policy's decisions and propensities, the brief, the bounded queue (I8)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import select

from growthloop.adapters.generators.llm.prompting import Prompts, build_messages
from growthloop.adapters.store.tables import content_metadata
from growthloop.domain import DIMENSIONS, QUEUED, SKIPPED, Brief
from growthloop.learning import FollowsModel
from growthloop.learning.model import Posterior
from growthloop.loop import plan as plan_module
from growthloop.loop.history import MODEL_STATE, feature_space
from growthloop.loop.learn import read_performance, top_insights
from growthloop.loop.policy import current_policy
from tests.conftest import Loop


def _rows(loop: Loop) -> list[object]:
    with loop.store.connect() as conn:
        return list(conn.execute(select(content_metadata).order_by(content_metadata.c.id)))


def test_the_queue_is_topped_up_and_never_overfilled(loop: Loop) -> None:
    loop.run("plan")
    loop.run("plan")
    assert [r.status for r in _rows(loop)] == [QUEUED] * loop.settings.queue_size


def test_nothing_is_generated_while_posting_is_off(loop: Loop) -> None:
    jobs = dict(loop.settings.jobs)
    jobs["post"] = jobs["post"].model_copy(update={"enabled": False})
    loop.wiring.settings = loop.settings.model_copy(update={"jobs": jobs})
    result = loop.run("plan")
    assert _rows(loop) == [] and "posting is disabled" in result.idle_reason  # type: ignore[attr-defined]


def test_before_learning_every_value_is_equally_likely(loop: Loop) -> None:
    loop.run("plan")
    for row in _rows(loop):
        for dim in DIMENSIONS:
            assert row.propensities[dim] == pytest.approx(1 / len(loop.settings.buckets[dim]))
        assert row.propensity == pytest.approx(np.prod(list(row.propensities.values())))


def _store_model(loop: Loop, best: dict[str, str]) -> None:
    """A learned model, certain that `best` holds the best value of every dimension."""
    space = feature_space(loop.settings)
    mean = np.zeros(space.width)
    for dim, sl in space.value_slices.items():
        mean[sl.start + space.buckets[dim].index(best[dim])] = 1.0
    cov = np.eye(space.width) * 1e-4
    model = FollowsModel(space, Posterior(mean, cov), {"reach": Posterior(mean, cov)})
    with loop.store.begin() as conn:
        loop.store.set_state(
            conn, "default", MODEL_STATE, {"as_of": "2025-11-03T00:00:00+00:00", "model": model.to_dict()}
        )


def test_the_planner_samples_from_the_learned_model_and_logs_its_propensities(loop: Loop) -> None:
    buckets = loop.settings.buckets
    best = {d: buckets[d][-1] for d in DIMENSIONS}
    _store_model(loop, best)
    composer = plan_module.Composer.open(loop.store, loop.wiring.records, loop.settings, "default", loop.clock.now())
    decisions = [composer.decide(n) for n in range(200)]
    eps = loop.settings.learning.exploration
    for dim in DIMENSIONS:
        chosen = [d.dimensions[dim] for d in decisions]
        if dim != "topic":  # topic fatigue may steer away from a topic just used
            assert chosen.count(best[dim]) / len(chosen) > 0.9, dim
        # The exploration floor keeps every value possible, with the propensity the log says.
        worst = buckets[dim][0]
        logged = {round(d.propensities[dim], 6) for d in decisions if d.dimensions[dim] == worst}
        assert all(p == pytest.approx(eps / len(buckets[dim]), rel=1e-3) for p in logged)
    for d in decisions:
        assert d.propensity == pytest.approx(np.prod(list(d.propensities.values())))
        assert d.policy == "bayes"


def test_the_seed_and_uniform_policies_stay_available_by_name(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(30)
    with loop.store.connect() as conn:
        seed = current_policy(loop.store, loop.wiring.records, conn, loop.settings, "default", "seed")
        uniform = current_policy(loop.store, loop.wiring.records, conn, loop.settings, "default", "uniform")
    assert seed.name == "seed" and uniform.name == "uniform"
    # With window deltas learned, the seed leans toward each dimension's best average (0.8 x uses / 30).
    assert any(float(p.max()) > 1 / len(p) + 0.1 for p in seed.distribution().values())
    assert all(np.allclose(p, 1 / len(p)) for p in uniform.distribution().values())


def test_rejected_drafts_keep_the_gates_reason(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = loop.settings.gate.model_copy(update={"banned_phrases": ["sleep"]})
    loop.wiring.settings = loop.settings.model_copy(
        update={"gate": gate, "buckets": {**loop.settings.buckets, "topic": ["sleep", "focus"]}}
    )
    loop.run("plan")
    skipped = [r for r in _rows(loop) if r.status == SKIPPED]
    assert skipped and all(r.status_reason == "rejected by the gate: banned phrase: 'sleep'" for r in skipped)


def test_an_exact_repeat_of_an_earlier_post_is_rejected(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    loop.run("plan")
    first = _rows(loop)[0]

    class Repeater:
        name = "repeater"

        def write(self, brief: Brief) -> object:
            from growthloop.domain import Draft

            return Draft(parts=(first.content,), generator=brief.dimensions["generator"])

    monkeypatch.setattr(loop.wiring, "generator", Repeater())
    # Compare with no recent posts, so that only the whole-history check can catch the repeat.
    loop.wiring.settings = loop.settings.model_copy(
        update={"gate": loop.settings.gate.model_copy(update={"recent_posts": 0})}
    )
    with loop.store.begin() as conn:
        conn.execute(content_metadata.update().where(content_metadata.c.id != first.id).values(status=SKIPPED))
    loop.run("plan")
    later = _rows(loop)[4:]
    assert later and all(r.status == SKIPPED for r in later)
    assert all(r.status_reason == "rejected by the gate: exact duplicate of an earlier post" for r in later)


def test_the_brief_quotes_the_top_performers_once_they_are_confident(simulated: Callable[[float], Loop]) -> None:
    loop = simulated(48)
    with loop.store.connect() as conn:
        performance = read_performance(loop.wiring.records, conn, "default")
    insights = top_insights(performance, loop.settings)
    assert insights, "after a day and a half the tables should be confident enough to quote"
    seen: list[Brief] = []
    original = loop.wiring.generator.write

    def spy(brief: Brief) -> object:
        seen.append(brief)
        return original(brief)

    loop.wiring.generator.write = spy  # type: ignore[method-assign]
    with loop.store.begin() as conn:
        conn.execute(content_metadata.update().where(content_metadata.c.status == QUEUED).values(status=SKIPPED))
    loop.run("plan")
    assert seen and seen[0].insights == insights
    prompt = "\n".join(str(m["content"]) for m in build_messages(seen[0], Prompts()))  # what the LLM is sent
    assert "TOP PERFORMING TOPICS" in prompt
    for insight in insights:
        assert insight.line() in prompt
    for dim, value in seen[0].dimensions.items():
        assert value in prompt, dim
