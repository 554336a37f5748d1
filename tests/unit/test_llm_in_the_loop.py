"""The LLM writer wired into the loop: the planner queues what it writes, records what each call cost,
and keeps a writer's refusal as the draft's reason (a spent budget stops the run; nothing else breaks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from growthloop.adapters.generators.llm import LlmGenerator, LlmSettings, ModelPrice
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, llm_usage
from growthloop.config import Settings
from tests.conftest import Loop
from tests.unit import fake_openai as fo


@pytest.fixture
def fake() -> Iterator[fo.FakeOpenAI]:
    server = fo.FakeOpenAI()
    yield server
    server.close()


def _llm_loop(store: SqlStore, settings: Settings, fake: fo.FakeOpenAI, budget: float) -> Loop:
    llm = LlmSettings(
        base_url=fake.base_url,
        model="main-model",
        timeout_s=2,
        max_retries=1,
        prices={"main-model": ModelPrice(prompt_per_1k=0.5, completion_per_1k=1.5)},
        daily_budget_usd=budget,
    )
    # One-part formats only: the scripted answers are single posts, whatever the policy draws.
    buckets = {**settings.buckets, "format_strategy": ["single_insight", "list", "question", "comparison"]}
    loop = Loop(store, settings.model_copy(update={"generator": "llm", "llm": llm, "buckets": buckets}))
    assert isinstance(loop.wiring.generator, LlmGenerator)  # the composition root picked the LLM writer
    # The same writer with the fake at its HTTP edge instead of a socket.
    w = loop.wiring
    w.generator.close()
    w.generator = LlmGenerator(w.store, w.account, w.clock, llm, http_client=fake.client())
    return loop


def _rows(store: SqlStore) -> list[object]:
    with store.connect() as conn:
        return list(conn.execute(select(content_metadata).order_by(content_metadata.c.id)))


def test_the_planner_queues_what_the_llm_writes_and_records_its_cost(
    store: SqlStore, settings: Settings, fake: fo.FakeOpenAI
) -> None:
    loop = _llm_loop(store, settings, fake, budget=5.0)
    texts = [
        "Seven hours of sleep beats six: reaction times fall apart after two short weeks.",
        "Walk ten minutes after dinner and your glucose curve flattens noticeably.",
        "Stress is not the enemy; never recovering from it is. Schedule the recovery.",
        "Focus fades after about ninety minutes. Plan breaks before you need them.",
    ]
    fake.script(*[fo.parts(t) for t in texts])
    loop.run("plan")
    rows = _rows(store)
    assert [r.status for r in rows] == ["queued"] * 4  # type: ignore[attr-defined]
    with store.connect() as conn:
        usage = conn.execute(select(llm_usage)).all()
    assert len(usage) == 4 and all(u.cost_usd and u.cost_usd > 0 for u in usage)
    assert {u.decision_id for u in usage} == {r.decision_id for r in rows}  # type: ignore[attr-defined]


def test_a_malformed_answer_ends_in_a_rejected_draft_and_the_run_goes_on(
    store: SqlStore, settings: Settings, fake: fo.FakeOpenAI
) -> None:
    loop = _llm_loop(store, settings, fake, budget=5.0)
    fake.script(fo.malformed(), fo.malformed(), fo.parts("Caffeine at 4 pm still costs you deep sleep at 11 pm."))
    result = loop.run("plan")
    rows = _rows(store)
    assert rows[0].status == "skipped"  # type: ignore[attr-defined]
    assert rows[0].status_reason.startswith("rejected by the writer: no usable draft after 2 attempts")  # type: ignore[attr-defined]
    assert rows[1].status == "queued" and result.items_out >= 1  # type: ignore[attr-defined]


def test_a_spent_budget_stops_the_run_with_its_reason(store: SqlStore, settings: Settings, fake: fo.FakeOpenAI) -> None:
    loop = _llm_loop(store, settings, fake, budget=0.0001)
    fake.script(fo.malformed(), fo.malformed())
    loop.run("plan")
    rows = _rows(store)
    # The first answer's usage spent the tiny budget: the retry is refused without a call, and the
    # run stops instead of spending its other decisions on the same refusal.
    assert len(rows) == 1 and rows[0].status == "skipped"  # type: ignore[attr-defined]
    assert "daily LLM budget reached" in rows[0].status_reason  # type: ignore[attr-defined]
    assert len(fake.requests) == 1
