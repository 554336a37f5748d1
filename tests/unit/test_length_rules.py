"""Each platform's length rule (twitter-text for X, graphemes for Bluesky, the instance's count for
Mastodon), the gate and the thread splitter by that rule, and the writer writing to it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from growthloop.adapters.generators.offline import OfflineGenerator
from growthloop.config import load_settings
from growthloop.domain import GRAPHEMES, MASTODON, TWITTER_TEXT, Brief, Capabilities, Draft, LengthRule
from growthloop.loop.gate import GateSettings, RecentPosts, TooLongToSplit, check_draft, split_thread
from growthloop.loop.plan import gate_settings
from growthloop.text import grapheme_length, mastodon_length, text_length, weighted_length

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one emoji of 7 code points
FLAG = "\U0001f1fa\U0001f1e6"
E_ACUTE = "e\u0301"  # e + combining acute: one grapheme, two code points


def test_graphemes_count_what_a_reader_sees_as_one_character() -> None:
    assert grapheme_length("hello") == 5
    assert grapheme_length(FAMILY) == 1 and len(FAMILY) == 7
    assert grapheme_length(FLAG + E_ACUTE + "\r\n") == 3
    assert grapheme_length("日本語") == 3 and weighted_length("日本語") == 6  # X weighs CJK double


def test_mastodons_count_takes_the_instances_url_weight_and_local_mentions() -> None:
    url = "https://example.com/a/very/long/path/that/goes/on/and/on"
    assert mastodon_length(f"read {url}", 23) == 5 + 23
    assert mastodon_length(f"read {url}", 40) == 5 + 40  # the instance's characters_reserved_per_url
    assert mastodon_length("example.com is a site", 23) == 21  # without a scheme it is not a link to Mastodon
    assert mastodon_length("hi @alice@social.example.org!", 23) == len("hi @alice!")
    assert mastodon_length("mail me at a@b.co", 23) == len("mail me at a@b.co")
    assert mastodon_length(FAMILY + " ok", 23) == 4


@pytest.mark.parametrize(
    ("rule", "text", "length"),
    [
        (LengthRule(TWITTER_TEXT, 280), FAMILY, 2),
        (LengthRule(GRAPHEMES, 300), FAMILY, 1),
        (LengthRule(MASTODON, 500, 23), "see https://x.org/" + "a" * 60, 4 + 23),
    ],
)
def test_text_length_follows_the_rule(rule: LengthRule, text: str, length: int) -> None:
    assert text_length(text, rule) == length


def test_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown length rule"):
        LengthRule("characters", 500)


_TEXT = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghij ", min_size=1, max_size=12),
        st.sampled_from([FAMILY, FLAG, E_ACUTE, "日本語", "https://example.com/path", "@bob@example.org", ". ", "\n"]),
    ),
    min_size=1,
    max_size=120,
).map("".join)
_RULES = st.sampled_from(
    [
        LengthRule(TWITTER_TEXT, 280),
        LengthRule(GRAPHEMES, 300),
        LengthRule(MASTODON, 500, 23),
        LengthRule(MASTODON, 60, 30),
    ]
)


@settings(max_examples=150, deadline=None)
@given(text=_TEXT, rule=_RULES)
def test_split_pieces_always_fit_the_rule_and_keep_every_word(text: str, rule: LengthRule) -> None:
    try:
        parts = split_thread(text, rule.limit, rule.name, rule.url_weight)
    except TooLongToSplit:
        return  # a single word over the limit: nothing can be done on word boundaries
    assert all(text_length(p, rule) <= rule.limit for p in parts)
    assert " ".join(parts).split() == text.split()


def test_the_gate_threads_by_graphemes_where_x_would_not_have_to() -> None:
    emoji_post = " ".join([FAMILY] * 200)  # 399 graphemes; X weighs it 599
    bluesky = GateSettings(max_weighted_length=300, length_rule=GRAPHEMES)
    verdict = check_draft(Draft(parts=(emoji_post,), generator="t"), RecentPosts(), bluesky)
    assert verdict.ok and len(verdict.parts) == 2 and all(grapheme_length(p) <= 300 for p in verdict.parts)
    one = check_draft(Draft(parts=(" ".join([FAMILY] * 140),), generator="t"), RecentPosts(), bluesky)
    assert one.ok and len(one.parts) == 1  # 279 graphemes: one Bluesky post, though X would weigh it 419
    no_threads = GateSettings(max_weighted_length=300, length_rule=GRAPHEMES, allow_threads=False)
    refused = check_draft(Draft(parts=(emoji_post,), generator="t"), RecentPosts(), no_threads)
    assert refused.reason == "too long: length in graphemes 399 > 300"


def test_the_gate_takes_the_platforms_rule_and_a_configured_limit_only_lowers_it() -> None:
    mastodon = Capabilities(False, False, False, max_weighted_length=500, length_rule=MASTODON, url_weight=30)
    g = gate_settings(load_settings(None), mastodon)
    assert (g.length_rule, g.max_weighted_length, g.url_weight) == (MASTODON, 500, 30)
    lowered = gate_settings(load_settings(None, gate={"max_weighted_length": 400}), mastodon)
    assert lowered.max_weighted_length == 400
    x = gate_settings(load_settings(None), None)
    assert (x.length_rule, x.max_weighted_length) == (TWITTER_TEXT, 280)


def test_the_offline_writer_writes_to_the_platforms_rule() -> None:
    writer = OfflineGenerator(seed=3)
    dims = {
        "topic": "sleep",
        "angle": "how_to",
        "tone": "casual",
        "format_strategy": "thread_deep_dive",
        "hook": "question",
        "generator": "coach",
    }
    for rule in (LengthRule(GRAPHEMES, 120), LengthRule(MASTODON, 150, 23)):
        brief = Brief(
            "d-1", "sleep", dims, max_weighted_length=rule.limit, length_rule=rule.name, url_weight=rule.url_weight
        )
        parts = writer.write(brief).parts
        assert parts and all(text_length(p, rule) <= rule.limit for p in parts)
