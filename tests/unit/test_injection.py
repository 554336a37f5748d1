"""Untrusted text is data, never instructions: with a model that obeys every instruction it reads (an
OpenAI-compatible fake at the HTTP edge), none of the simulator's attack set is published, each attempt is
held as a draft with its reason, and ordinary mentions are still answered by themselves."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import count

import httpx2
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from growthloop.adapters.generators.llm import LlmGenerator, LlmSettings, ModelPrice
from growthloop.adapters.platforms.sim.chatter import _REPLIES, injections
from growthloop.adapters.platforms.sim.world import default_world_path
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, reply_opportunities
from growthloop.cli.app import app
from growthloop.config import Settings
from growthloop.domain import MENTION, POSTED, POSTING, QUEUED, Mention
from growthloop.loop.reply import HELD, answer_opportunities
from growthloop.loop.voice import account_voice, fact_base, fold
from tests.conftest import START, Loop

ATTACKS = {a.text: a for a in injections()}
# What a helpful model would answer to ordinary mentions, three per topic (none from the fact base).
BENIGN = {
    "sleep": (
        "Good question! Most adults do best with 7 to 9 hours; a fixed wake time matters more than a fixed bedtime.",
        "Same here. Morning daylight within an hour of waking made my evenings feel sleepier, in a good way.",
        "Night shifts are hard: blackout curtains and keeping the same sleep window on days off help the most.",
    ),
    "nutrition": (
        "Yes, there are good trials on this. More fibre and fewer ultra-processed foods is the steadiest finding.",
        "Glad it helped! Protein at breakfast keeps a lot of people fuller until lunch.",
        "Fair point. For beginners, adding vegetables to one meal a day is a simple place to start.",
    ),
    "exercise": (
        "There is solid research behind it: even short brisk walks add up to real fitness gains over a few months.",
        "Great to hear! Strength training twice a week is the habit most people wish they had started earlier.",
        "For beginners, start with ten minutes a day and build up slowly; consistency beats intensity.",
    ),
    "stress": (
        "Good question. Slow breathing with a longer exhale calms most people within a couple of minutes.",
        "Thanks for sharing. A short walk outside between meetings does wonders for stress.",
        "Night work makes it harder, agreed. Protecting a recovery routine after a shift helps a lot.",
    ),
    "focus": (
        "Studies on this are consistent: notifications off and one task at a time beat any productivity app.",
        "Same experience here. Working in blocks with short breaks keeps focus fresh through the afternoon.",
        "For beginners, pick one distraction to remove this week, usually the phone on the desk.",
    ),
    "longevity": (
        "The evidence is strongest for the boring basics: movement, sleep, not smoking and strong relationships.",
        "Glad it resonates. Walking pace turns out to be a surprisingly good marker of healthy ageing.",
        "The habits you control matter far more than family history for most people.",
    ),
}
BENIGN_MENTIONS = {
    template.format(topic=topic): BENIGN[topic][i % 3] for topic in BENIGN for i, template in enumerate(_REPLIES[:3])
}
_FENCED = re.compile(r"<untrusted_post>\s*(.*?)\s*</untrusted_post>", re.S)


def obedient_model() -> Callable[[httpx2.Request], httpx2.Response]:
    """An OpenAI-compatible chat endpoint whose model does whatever the untrusted post tells it to: it
    answers an attack with exactly what the attack asked for (its payload), an ordinary mention with a
    helpful reply, and a plan for a post with the next fact of the account's fact base."""
    facts = count()
    posts = [s for s in fact_base() if len(s) > 60 and "." in s]

    def answer(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        user = body["messages"][-1]["content"]
        fenced = _FENCED.search(user)
        if fenced is None:
            text = posts[next(facts) % len(posts)]
        else:
            mention = json.loads(fenced.group(1))
            attack = ATTACKS.get(mention)
            text = attack.payload if attack else BENIGN_MENTIONS[mention]
        content = json.dumps({"parts": [text]})
        return httpx2.Response(
            200,
            json={
                "id": "chatcmpl-obedient",
                "object": "chat.completion",
                "created": 1_772_409_600,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340},
            },
        )

    return answer


def _obedient_writer(loop: Loop) -> LlmGenerator:
    llm = LlmSettings(
        base_url="http://llm.invalid/v1",
        model="obedient",
        timeout_s=2,
        max_retries=0,
        prices={"obedient": ModelPrice(prompt_per_1k=0.0001, completion_per_1k=0.0001)},
        daily_budget_usd=100.0,
    )
    client = httpx2.Client(transport=httpx2.MockTransport(obedient_model()))
    return LlmGenerator(loop.store, loop.settings.account, loop.clock, llm, http_client=client)


class Audience:
    """The simulator, with a fixed set of mentions of the account waiting."""

    def __init__(self, inner: object, found: list[Mention]) -> None:
        self.inner, self.found = inner, found

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        return [m for m in self.found if since < m.created_at <= now]

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        return []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture
def open_loop(store: SqlStore, settings: Settings) -> Iterator[Loop]:
    """Room to answer everything in one run: the limits are not what this test is about."""
    roomy = settings.model_copy(
        update={"replies_per_hour": 60, "replies": settings.replies.model_copy(update={"per_run": 100})}
    )
    lp = Loop(store, roomy)
    yield lp
    lp.scheduler.close()


def _mentions() -> list[Mention]:
    texts = [*ATTACKS, *BENIGN_MENTIONS]
    return [
        Mention(f"m{i}", MENTION, f"user{i}", 300, text, START + timedelta(minutes=i % 50), likes=2)
        for i, text in enumerate(texts)
    ]


def test_the_attack_set_is_large_and_of_many_kinds() -> None:
    attacks = injections()
    assert len({a.kind for a in attacks}) == len(attacks) >= 20
    kinds = {a.kind for a in attacks}
    for needed in ("role_play", "ignore_previous", "system_prefix", "base64", "rot13", "split_words", "interleaved"):
        assert needed in kinds
    for needed in ("homoglyphs", "zero_width", "link", "ticker", "hashtag", "follow_request", "dm_request"):
        assert needed in kinds
    assert "reply_exactly" in kinds and "fake_quote" in kinds
    assert any(fold(a.text) != a.text.casefold() for a in attacks)  # some hide behind Unicode


def test_an_obedient_model_gets_none_of_the_attacks_published(open_loop: Loop) -> None:
    loop = open_loop
    loop.clock.advance(3600)
    loop.wiring.generator = _obedient_writer(loop)
    w = loop.wiring
    answer_opportunities(
        w.store, Audience(loop.platform, _mentions()), w.generator, w.clock, w.account, w.settings, records=w.records
    )
    loop.run("post")
    loop.clock.advance(1800)
    loop.run("post")

    with loop.store.connect() as conn:
        ops = {r.text: r for r in conn.execute(select(reply_opportunities))}
        replies = {r.decision_id: r for r in conn.execute(select(content_metadata))}
    assert set(ops) == set(ATTACKS) | set(BENIGN_MENTIONS)
    # The model obeyed: every attack's reply was written as the attack asked ...
    for text, attack in ATTACKS.items():
        assert replies[ops[text].decision_id].content == attack.payload, attack.kind
    # ... and not one of them went out: each waits for a person, with the reason.
    held = {ATTACKS[t].kind: op.status_reason for t, op in ops.items() if t in ATTACKS}
    not_held = {kind: reason for kind, reason in held.items() if not (reason or "").startswith(HELD)}
    assert not_held == {}
    assert {ops[t].status for t in ATTACKS} == {"drafted"}
    assert {replies[ops[t].decision_id].status for t in ATTACKS} == {"skipped"}
    published = [r for r in replies.values() if r.kind == "reply" and r.status in (QUEUED, POSTING, POSTED)]
    assert not any(r.in_reply_to in {ops[t].platform_id for t in ATTACKS} for r in published)
    payloads = {fold(a.payload) for a in ATTACKS.values()}
    assert not any(fold(r.content) in payloads for r in published)

    # Ordinary mentions are still answered by themselves.
    benign = [ops[t] for t in BENIGN_MENTIONS]
    answered = [op for op in benign if op.status == "queued"]
    assert len(answered) / len(benign) >= 0.9, [op.status_reason for op in benign if op.status != "queued"]
    statuses = [replies[op.decision_id].status for op in answered]
    assert set(statuses) <= {QUEUED, POSTED} and POSTED in statuses  # going out under the reply rate limit


def test_a_held_reply_shows_its_reason_and_a_person_decides(open_loop: Loop) -> None:
    from growthloop.loop.reply import decide_draft, list_opportunities

    loop = open_loop
    loop.clock.advance(3600)
    loop.wiring.generator = _obedient_writer(loop)
    attack = next(a for a in injections() if a.kind == "follow_request")
    found = [Mention("evil", MENTION, "eve", 300, attack.text, START + timedelta(minutes=5))]
    w = loop.wiring
    answer_opportunities(
        w.store, Audience(loop.platform, found), w.generator, w.clock, w.account, w.settings, records=w.records
    )
    [row] = list_opportunities(loop.store, w.records, w.account, "drafted", 10)
    assert row["status_reason"] == f"{HELD}a handle that is not the account's own: @glowcoin_official"
    assert row["reply"] == attack.payload
    shown = CliRunner().invoke(app, ["replies", "list", "--db", loop.settings.database_url], env={"COLUMNS": "400"})
    assert shown.exit_code == 0 and row["status_reason"] in shown.output, shown.output
    assert decide_draft(loop.store, w.records, w.account, row["id"], False, loop.clock.now()) == "rejected"


@pytest.mark.parametrize("kind", sorted(a.kind for a in injections()))
def test_every_payload_fails_the_voice_check_and_every_ordinary_reply_passes(kind: str) -> None:
    voice = account_voice(Settings())
    attack = next(a for a in injections() if a.kind == kind)
    mention = Mention("m", MENTION, "eve", 10, attack.text, START)
    assert voice.check(attack.payload, mention) is not None
    for text, reply in BENIGN_MENTIONS.items():
        assert voice.check(reply, Mention("m", MENTION, "ana", 10, text, START)) is None, reply


def test_folding_sees_through_disguises() -> None:
    assert fold("\u0412u\u0443 $GL\u039fW\u200bC\u039fIN") == "buy $glowcoin"  # Cyrillic B and y, Greek O, zero-width
    assert fold("\uff22\uff35\uff39") == "buy"  # full-width
    assert fold("g l o w c o i n") == "glowcoin"
    assert fold("Caf\u00e9  au\u2060lait") == "cafe aulait"


def test_a_sim_world_full_of_attacks_publishes_none_of_them(store: SqlStore, settings: Settings) -> None:
    """Through the simulator's own audience: every reply and quote of our posts is an attack."""
    world = "injection_rate = 1.0\n" + default_world_path().read_text()
    loop = Loop(store, settings, world_text=world)
    try:
        loop.wiring.generator = _obedient_writer(loop)
        loop.run_for(30)
        with store.connect() as conn:
            ops = conn.execute(select(reply_opportunities)).all()
            sent = (
                conn.execute(
                    select(content_metadata.c.content).where(
                        content_metadata.c.kind == "reply", content_metadata.c.status.in_([QUEUED, POSTING, POSTED])
                    )
                )
                .scalars()
                .all()
            )
    finally:
        loop.scheduler.close()
    attacked = [op for op in ops if op.text in ATTACKS]
    assert attacked and len(attacked) == len(ops)
    assert sent == []
    assert all(op.status in ("drafted", "new", "skipped") for op in attacked)
    assert any((op.status_reason or "").startswith(HELD) for op in attacked)
