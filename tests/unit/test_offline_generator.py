"""The offline generator: deterministic, length-safe template posts where every dimension shows."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from growthloop.adapters.generators.offline import DEFAULT_BUCKETS, OfflineGenerator, render_prompt
from growthloop.adapters.generators.offline.generator import (
    ANGLE_MARKERS,
    HOOK_LEADS,
    TONE_LINES,
    load_facts,
    load_personas,
    weighted_length,
)
from growthloop.domain import DIMENSIONS, Brief, Draft, Insight
from growthloop.ports import Generator

NICHE = "sleep, habits and health science"

# Several fixed settings of "the other dimensions": each per-dimension test varies one dimension
# and holds the others at each of these in turn.
BASES: tuple[dict[str, str], ...] = (
    dict(
        topic="sleep",
        angle="myth_busting",
        tone="casual",
        format_strategy="single_insight",
        hook="surprising_stat",
        generator="scientist",
    ),
    dict(topic="focus", angle="how_to", tone="urgent", format_strategy="list", hook="bold_claim", generator="coach"),
    dict(
        topic="longevity",
        angle="data_driven",
        tone="witty",
        format_strategy="thread_deep_dive",
        hook="question",
        generator="friend",
    ),
    dict(
        topic="stress",
        angle="contrarian",
        tone="empathetic",
        format_strategy="comparison",
        hook="story_opening",
        generator="data_nerd",
    ),
    dict(
        topic="nutrition",
        angle="prediction",
        tone="authoritative",
        format_strategy="question",
        hook="direct_address",
        generator="skeptic",
    ),
)
SEEDS_PER_BASE = 12


def make_brief(
    dimensions: dict[str, str],
    decision_id: str = "d-1",
    seed: int = 0,
    insights: tuple[Insight, ...] = (),
    max_weighted_length: int = 280,
) -> Brief:
    return Brief(
        decision_id=decision_id,
        niche=NICHE,
        dimensions=dict(dimensions),
        insights=insights,
        max_weighted_length=max_weighted_length,
        seed=seed,
    )


def drafts_with(dim: str, value: str) -> list[Draft]:
    """Drafts where `dim` = `value` and the other dimensions take each of the BASES settings."""
    gen = OfflineGenerator(seed=3)
    out = []
    for b, base in enumerate(BASES):
        dims = {**base, dim: value}
        out += [gen.write(make_brief(dims, decision_id=f"b{b}-{i}", seed=i)) for i in range(SEEDS_PER_BASE)]
    return out


def random_dims(rng: random.Random) -> dict[str, str]:
    return {dim: rng.choice(values) for dim, values in DEFAULT_BUCKETS.items()}


def first_line(draft: Draft) -> str:
    return draft.parts[0].split("\n", 1)[0]


def classify_hook(line: str) -> str:
    if line.endswith("?"):
        return "question"
    if line.startswith(HOOK_LEADS["story_opening"]):
        return "story_opening"
    if line.startswith(HOOK_LEADS["bold_claim"]):
        return "bold_claim"
    if line.startswith(HOOK_LEADS["direct_address"]):
        return "direct_address"
    if re.search(r"\d", line):
        return "surprising_stat"
    return "unknown"


NUMBERED = re.compile(r"^\d+\. \S", re.MULTILINE)


def classify_format(draft: Draft) -> str:
    if draft.is_thread:
        return "thread_deep_dive" if 3 <= len(draft.parts) <= 6 else "bad_thread"
    text = draft.text
    if " vs " in text:
        return "comparison"
    if len(NUMBERED.findall(text)) >= 3:
        return "list"
    if text.rstrip().endswith("?"):
        return "question"
    return "single_insight"


def topic_signatures() -> dict[str, set[str]]:
    sigs: dict[str, set[str]] = {}
    for name, topic in load_facts().items():
        s = set(topic.quips) | set(topic.predictions)
        for f in topic.facts:
            s |= {f.claim, f.stat, f.tip, f.myth, f.versus, f"{f.number}, per {f.source}"}
        sigs[name] = s
    return sigs


# ---------------------------------------------------------------------------------------------
# Port, configuration and data


def test_is_a_generator_named_offline() -> None:
    gen = OfflineGenerator()
    assert isinstance(gen, Generator)
    assert gen.name == "offline"
    draft = gen.write(make_brief(BASES[0]))
    assert isinstance(draft, Draft)
    assert draft.generator == "scientist"
    assert draft.dimensions == BASES[0]


def test_default_buckets_are_exactly_the_configured_values() -> None:
    assert tuple(DEFAULT_BUCKETS) == DIMENSIONS
    assert DEFAULT_BUCKETS["topic"] == ("sleep", "nutrition", "exercise", "stress", "focus", "longevity")
    assert DEFAULT_BUCKETS["angle"] == (
        "myth_busting",
        "how_to",
        "contrarian",
        "data_driven",
        "personal_story",
        "prediction",
    )
    assert DEFAULT_BUCKETS["tone"] == ("casual", "authoritative", "witty", "empathetic", "urgent")
    assert DEFAULT_BUCKETS["format_strategy"] == (
        "single_insight",
        "list",
        "question",
        "thread_deep_dive",
        "comparison",
    )
    assert DEFAULT_BUCKETS["hook"] == ("surprising_stat", "question", "bold_claim", "story_opening", "direct_address")
    assert DEFAULT_BUCKETS["generator"] == ("scientist", "coach", "skeptic", "storyteller", "data_nerd", "friend")


def test_personas_and_facts_load_once_and_cover_the_defaults() -> None:
    assert load_facts() is load_facts()
    assert load_personas() is load_personas()
    personas = load_personas()
    assert set(DEFAULT_BUCKETS["generator"]) <= set(personas)
    signoffs = [s for p in personas.values() for s in p.signoffs]
    assert len(signoffs) == len(set(signoffs)), "signoffs must identify one persona"
    facts = load_facts()
    assert set(DEFAULT_BUCKETS["topic"]) <= set(facts)
    for topic in facts.values():
        assert 8 <= len(topic.facts) <= 12
        for f in topic.facts:
            assert f.number in f.stat
            assert " vs " in f.versus
            for text in (f.claim, f.stat, f.tip, f.myth, f.source):
                assert " vs " not in text, f.id
            assert len(f.claim) <= 70 and len(f.stat) <= 95 and len(f.tip) <= 60, f.id
            assert len(f.myth) <= 55 and len(f.source) <= 50 and len(f.versus) <= 80, f.id


# ---------------------------------------------------------------------------------------------
# Determinism


def test_same_inputs_give_the_same_draft() -> None:
    brief = make_brief(BASES[2], decision_id="abc", seed=42)
    assert OfflineGenerator(seed=7).write(brief) == OfflineGenerator(seed=7).write(brief)
    gen = OfflineGenerator(seed=7)
    assert gen.write(brief) == gen.write(brief)


@pytest.mark.parametrize("change", ["generator_seed", "brief_seed", "decision_id"])
def test_each_seed_input_changes_the_output(change: str) -> None:
    differ = 0
    for i in range(40):
        dims = BASES[i % len(BASES)]
        a = OfflineGenerator(seed=1).write(make_brief(dims, decision_id=f"d{i}", seed=i))
        if change == "generator_seed":
            b = OfflineGenerator(seed=2).write(make_brief(dims, decision_id=f"d{i}", seed=i))
        elif change == "brief_seed":
            b = OfflineGenerator(seed=1).write(make_brief(dims, decision_id=f"d{i}", seed=i + 1000))
        else:
            b = OfflineGenerator(seed=1).write(make_brief(dims, decision_id=f"e{i}", seed=i))
        differ += a.text != b.text
    assert differ >= 30


# ---------------------------------------------------------------------------------------------
# Every dimension shows in the text


@pytest.mark.parametrize("topic", DEFAULT_BUCKETS["topic"])
def test_topic_draws_its_facts_from_that_topic(topic: str) -> None:
    sigs = topic_signatures()
    others = set().union(*(s for name, s in sigs.items() if name != topic))
    for draft in drafts_with("topic", topic):
        assert any(s in draft.text for s in sigs[topic]), draft.text
        assert not any(s in draft.text for s in others), draft.text


@pytest.mark.parametrize("angle", DEFAULT_BUCKETS["angle"])
def test_angle_frames_the_body(angle: str) -> None:
    other_markers = [m for a, ms in ANGLE_MARKERS.items() if a != angle for m in ms]
    for draft in drafts_with("angle", angle):
        text = draft.text
        assert any(m in text for m in ANGLE_MARKERS[angle]), text
        assert not any(m in text for m in other_markers), text
        if angle == "myth_busting":
            assert "Myth:" in text or "That's a myth." in text
        if angle == "how_to" and draft.dimensions["format_strategy"] != "list":
            assert "Step 1:" in text


@pytest.mark.parametrize("tone", DEFAULT_BUCKETS["tone"])
def test_tone_adds_its_line(tone: str) -> None:
    facts = load_facts()
    for draft in drafts_with("tone", tone):
        text = draft.text
        quips = facts[draft.dimensions["topic"]].quips
        own = quips if tone == "witty" else TONE_LINES[tone]
        assert any(line in text for line in own), text
        others = [line for t, lines in TONE_LINES.items() if t != tone for line in lines]
        if tone != "witty":
            others += [q for topic in facts.values() for q in topic.quips]
        assert not any(line in text for line in others), text
        if tone == "urgent":
            assert re.search(r"\b(today|now|Now)\b", text)


@pytest.mark.parametrize("format_strategy", DEFAULT_BUCKETS["format_strategy"])
def test_format_strategy_sets_the_layout(format_strategy: str) -> None:
    for draft in drafts_with("format_strategy", format_strategy):
        assert classify_format(draft) == format_strategy, draft.parts
        if format_strategy == "thread_deep_dive":
            assert 3 <= len(draft.parts) <= 6
        else:
            assert len(draft.parts) == 1
        if format_strategy == "question":
            assert draft.text.rstrip().endswith("?")
        if format_strategy == "list":
            assert [int(n) for n in re.findall(r"^(\d+)\. ", draft.text, re.MULTILINE)][:3] == [1, 2, 3]


@pytest.mark.parametrize("hook", DEFAULT_BUCKETS["hook"])
def test_hook_sets_the_opening_line(hook: str) -> None:
    for draft in drafts_with("hook", hook):
        assert classify_hook(first_line(draft)) == hook, first_line(draft)


@pytest.mark.parametrize("persona", DEFAULT_BUCKETS["generator"])
def test_persona_signs_with_its_signature(persona: str) -> None:
    personas = load_personas()
    others = [s for name, p in personas.items() if name != persona for s in p.signoffs]
    for draft in drafts_with("generator", persona):
        assert draft.generator == persona
        assert any(s in draft.text for s in personas[persona].signoffs), draft.text
        assert not any(s in draft.text for s in others), draft.text


@pytest.mark.parametrize("dim", DIMENSIONS)
def test_changing_one_value_changes_the_text(dim: str) -> None:
    gen = OfflineGenerator()
    for i, base in enumerate(BASES):
        texts = {
            gen.write(make_brief({**base, dim: v}, decision_id=f"c{i}", seed=i)).text for v in DEFAULT_BUCKETS[dim]
        }
        assert len(texts) == len(DEFAULT_BUCKETS[dim])


# ---------------------------------------------------------------------------------------------
# Insights


STAT_HOOK = Insight(
    dimension="hook", value="surprising_stat", avg_followers=2.4, engagement_rate=0.031, uses=14, confidence=1.0
)
WITTY = Insight(dimension="tone", value="witty", avg_followers=1.1, engagement_rate=0.02, uses=9, confidence=0.7)


def question_hook_briefs(insights: tuple[Insight, ...]) -> list[Brief]:
    dims = {**BASES[1], "hook": "question", "tone": "urgent"}
    return [make_brief(dims, decision_id=f"q{i}", seed=i, insights=insights) for i in range(200)]


def test_insights_steer_template_variants_not_dimensions() -> None:
    gen = OfflineGenerator()
    facts = load_facts()["focus"].facts

    def carries_number(draft: Draft) -> bool:
        line = first_line(draft)
        return any(f.number in line for f in facts) and line.startswith("Want to know what")

    plain = [gen.write(b) for b in question_hook_briefs(())]
    steered = [gen.write(b) for b in question_hook_briefs((STAT_HOOK, WITTY))]
    share_plain = sum(map(carries_number, plain)) / len(plain)
    share_steered = sum(map(carries_number, steered)) / len(steered)
    # Without insights one of three question variants carries the figure; stats being the top hook
    # makes the question hook lean towards the variant that quotes the number.
    assert share_plain < 0.5
    assert share_steered > 0.75
    for draft, brief in zip(steered, question_hook_briefs((STAT_HOOK, WITTY))):
        assert draft.dimensions == brief.dimensions  # the policy's choice stands
        assert classify_hook(first_line(draft)) == "question"
        assert any(line in draft.text for line in TONE_LINES["urgent"])  # tone stays urgent
    # Deterministic with insights too.
    b = question_hook_briefs((STAT_HOOK,))[5]
    assert gen.write(b) == OfflineGenerator().write(b)


def test_render_prompt_quotes_every_choice_and_insight() -> None:
    dims = BASES[3]
    brief = make_brief(dims, insights=(STAT_HOOK, WITTY))
    prompt = render_prompt(brief)
    assert NICHE in prompt
    assert "280" in prompt
    for dim, value in dims.items():
        assert re.search(rf"^- {dim}: {value} \(.+\)$", prompt, re.MULTILINE), (dim, value)
    for insight in brief.insights:
        assert insight.line() in prompt
    for line in brief.top_performers_text().splitlines():
        assert line in prompt
    assert load_personas()["data_nerd"].description in prompt
    assert "No learned insights yet." in render_prompt(make_brief(dims))


# ---------------------------------------------------------------------------------------------
# Length, variety, robustness, speed


@settings(max_examples=200, deadline=None)
@given(
    dims=st.fixed_dictionaries({d: st.sampled_from(v) for d, v in DEFAULT_BUCKETS.items()}),
    decision_id=st.text(min_size=1, max_size=20),
    seed=st.integers(min_value=0, max_value=2**31),
    gen_seed=st.integers(min_value=0, max_value=1000),
)
def test_parts_fit_the_weighted_limit(dims: dict[str, str], decision_id: str, seed: int, gen_seed: int) -> None:
    draft = OfflineGenerator(seed=gen_seed).write(make_brief(dims, decision_id=decision_id, seed=seed))
    assert draft.parts
    for part in draft.parts:
        assert part.strip()
        assert parse_tweet(part).weightedLength <= 280
        assert weighted_length(part) >= parse_tweet(part).weightedLength


def test_every_combination_fits() -> None:
    gen = OfflineGenerator()
    keys = list(DEFAULT_BUCKETS)
    for n, combo in enumerate(itertools.product(*DEFAULT_BUCKETS.values())):
        draft = gen.write(make_brief(dict(zip(keys, combo)), decision_id=f"all-{n}", seed=n))
        for part in draft.parts:
            assert part.strip() and weighted_length(part) <= 280, (combo, part)
            if n % 97 == 0:
                assert parse_tweet(part).weightedLength <= 280


def test_a_smaller_limit_is_respected() -> None:
    gen = OfflineGenerator()
    rng = random.Random(5)
    for i in range(200):
        dims = random_dims(rng)
        draft = gen.write(make_brief(dims, decision_id=f"s{i}", seed=i, max_weighted_length=140))
        for part in draft.parts:
            assert part.strip() and parse_tweet(part).weightedLength <= 140
        # Short posts fall back to compact forms; the opening line still shows the hook.
        assert classify_hook(first_line(draft)) == dims["hook"], draft.parts


def test_texts_vary() -> None:
    gen = OfflineGenerator()
    rng = random.Random(11)
    texts = [gen.write(make_brief(random_dims(rng), decision_id=f"v{i}", seed=i)).text for i in range(200)]
    assert len(set(texts)) >= 150
    same_dims = [gen.write(make_brief(BASES[0], decision_id=f"w{i}", seed=i)).text for i in range(200)]
    assert len(set(same_dims)) >= 150


def test_unknown_values_still_write_something() -> None:
    dims = {
        "topic": "gardening",
        "angle": "rant",
        "tone": "deadpan",
        "format_strategy": "poem",
        "hook": "meme",
        "generator": "pirate",
    }
    draft = OfflineGenerator().write(make_brief(dims))
    assert draft.generator == "pirate"
    assert draft.dimensions == dims
    assert all(p.strip() and parse_tweet(p).weightedLength <= 280 for p in draft.parts)
    assert "gardening" in render_prompt(make_brief(dims))
