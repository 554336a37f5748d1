"""The gate stage: length by twitter-text rules, threads, near duplicates, banned phrases."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from growthloop.domain import Draft
from growthloop.loop.gate import (
    GateResult,
    GateSettings,
    RecentPosts,
    TooLongToSplit,
    banned_phrase,
    check_draft,
    near_duplicate,
    split_thread,
)
from growthloop.text import has_url, invalid_character, weighted_length

POST = (
    "Most founders overthink distribution. Pick one channel, post daily for ninety days, and "
    "measure which posts actually move followers. Everything else is noise until you have real data."
)
OTHER = (
    "Sourdough needs patience: feed the starter twice a day, keep it warm, and wait until it "
    "doubles before you bake. Rushing it gives you a dense, sour brick."
)


def draft(*parts: str) -> Draft:
    return Draft(parts=parts, generator="test")


def gate(d: Draft, recent: tuple[str, ...] = (), **overrides: object) -> GateResult:
    return check_draft(d, RecentPosts(recent), GateSettings(**overrides))  # type: ignore[arg-type]


# --- weighted length ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("日本語", 6),  # CJK weighs 2
        ("see https://example.com/a/very/long/path?with=query", 27),  # a URL weighs 23
        ("😷", 2),
        ("👨‍👩‍👧‍👦", 2),  # one emoji sequence, seven code points
        ("1⃣ #️⃣", 5),  # keycaps start with ASCII: they must not be counted as plain digits
        ("line\r\nbreak", 10),  # CRLF counts as one
        ("", 0),
    ],
)
def test_weighted_length(text: str, expected: int) -> None:
    assert weighted_length(text) == expected
    assert weighted_length(text) == parse_tweet(text).weightedLength


# Pieces that exercise every branch of the count: ASCII (digits, # and * included, as keycaps start
# with them), Latin-1, combining marks (NFC), CJK, typographic punctuation, CRLF, URLs with and
# without protocol, t.co, an IDN, emoji, lone emoji components, invalid characters.
_FRAGMENTS = st.sampled_from(
    [
        "a",
        "Z",
        "7",
        "#",
        "*",
        " ",
        ".",
        ",",
        "\n",
        "\r\n",
        "\t",
        "é",
        "e\u0301",
        "ñ",
        "©",
        "®",
        "日",
        "本",
        "ア",
        "한",
        "—",
        "’",
        "“",
        "…",
        "\u200b",
        "\u200d",
        "\ufe0f",
        "\u20e3",
        "\ufeff",
        "\uffff",
        "😷",
        "🏽",
        "👨‍👩‍👧‍👦",
        "🏴󠁧󠁢󠁥󠁮󠁧󠁿",
        "1⃣",
        "#️⃣",
        "https://example.com/path?q=1",
        "http://t.co/abc123",
        "example.com",
        "www.test.io/x",
        "пример.рф",
        "@user",
        "#tag",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40).map("".join))
def test_weighted_length_equals_parse_tweet_on_mixed_text(text: str) -> None:
    # weighted_length skips the library's emoji regex when no emoji is possible; it must still
    # agree with parse_tweet exactly.
    assert weighted_length(text) == parse_tweet(text).weightedLength


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_weighted_length_equals_parse_tweet_on_any_text(text: str) -> None:
    assert weighted_length(text) == parse_tweet(text).weightedLength


def test_every_tld_starts_with_a_word_character() -> None:
    # weighted_length skips the URL extraction when no dot is followed by a word character; that is only
    # right while every TLD twitter-text knows starts with one.
    from twitter_text.regexp.valid_cctld import valid_cctld
    from twitter_text.regexp.valid_gtld import valid_gtld
    from twitter_text.regexp.valid_punycode import valid_punycode

    for pattern in (valid_gtld.pattern, valid_cctld.pattern):
        head = "(?:(?:"
        start = pattern.index(head) + len(head)
        tlds = pattern[start : pattern.index(")", start)].split("|")
        assert len(tlds) > 300  # the lists were read whole, not cut at a nested group
        assert [t for t in tlds if not re.match(r"\w", t)] == []
    assert valid_punycode.pattern.startswith("(?:xn--")


@pytest.mark.parametrize(
    "text",
    [
        "🔥 see https://пример.рф now",
        "📊 data at example.co.uk 😷",
        "🧵 1/ read x.com/a",
        "🔥 see example.\u212ar now",  # the Kelvin sign: a TLD "kr" to the library's case-blind regex
        "🔥 go to go.\u017fe now",  # the long s: "se"
    ],
)
def test_weighted_length_counts_a_url_beside_an_emoji(text: str) -> None:
    assert weighted_length(text) == parse_tweet(text).weightedLength


URL_TEXTS = [
    "🔥 see https://пример.рф now",
    "📊 data at example.co.uk 😷",
    "🧵 1/ read x.com/a",
    "🔥 see example.\u212ar now",
    "🔥 go to go.\u017fe now",
    "Sleep resets memory. Read more at example.com/sleep",
    "Thanks: https://example.org",
    "Sleep resets memory.",
    "v2.0 is out. 3.14 … e.g. this",
    "no link here at all",
]
# Pieces a link can be made of (schemes, dots, TLD letters in other scripts, the Kelvin sign and long s that
# the library's case-blind regex reads as k and s) and pieces that break one.
URL_PIECES = st.sampled_from(
    ["example", "go", ".", ".com", ".co", ".uk", ".\u212ar", ".\u017fe", ".рф", "пример", "https://", "/a", " ",
     "🔥", "x", "1", "é", "…", "。", "．"]
)  # fmt: skip


@pytest.mark.parametrize("text", URL_TEXTS)
def test_has_url_is_the_librarys_extraction(text: str) -> None:
    from twitter_text import extract_urls_with_indices

    assert has_url(text) is bool(extract_urls_with_indices(text))


@given(st.lists(URL_PIECES, max_size=12).map("".join))
@settings(max_examples=300, deadline=None)
def test_has_url_is_the_librarys_extraction_on_texts_made_of_link_pieces(text: str) -> None:
    from twitter_text import extract_urls_with_indices

    assert has_url(text) is bool(extract_urls_with_indices(text))


def test_the_emoji_regex_has_no_anchor_or_look_around() -> None:
    # weighted_length matches each run of emoji characters on its own (and keeps what it found per run): the
    # same as matching it inside its text only while the regex looks at nothing outside what it matches.
    from growthloop.text import _twitter_text

    pattern = _twitter_text().emoji.pattern
    assert len(pattern) > 10_000
    assert [t for t in ("(?<", "(?=", "(?!", "^", "$", "\\b", "\\B", "\\A", "\\Z") if t in pattern] == []


def test_every_emoji_has_a_non_ascii_code_point() -> None:
    # weighted_length skips the emoji scan for ASCII text; that is only right while this holds.
    from twitter_text.regexp.emoji import emoji_list, single_codepoint_emoji_ranges

    assert min(low for low, _ in single_codepoint_emoji_ranges) > 0x7F
    assert all(any(int(cp, 16) > 0x7F for cp in e.codepoint.split()) for e in emoji_list)


def test_invalid_character() -> None:
    assert invalid_character("fine text") is None
    assert invalid_character("bad \uffff here") == "\uffff"


# --- threads ------------------------------------------------------------------------------------


def test_split_thread_short_text_is_one_part_unchanged() -> None:
    assert split_thread("  One post.\n\nTwo paragraphs.  ") == ["One post.\n\nTwo paragraphs."]


def test_split_thread_empty() -> None:
    assert split_thread("") == []
    assert split_thread(" \n\t ") == []


def test_split_thread_cuts_between_sentences() -> None:
    text = "First sentence here. Second one is longer! Third? Fourth line\nFifth."
    assert split_thread(text, 30) == [
        "First sentence here.",
        "Second one is longer! Third?",
        "Fourth line\nFifth.",
    ]


def test_split_thread_falls_back_to_words_for_a_long_sentence() -> None:
    sentence = " ".join(f"word{i}" for i in range(40))  # 279 characters, no sentence break
    parts = split_thread(sentence + ". Short end.", 100)
    assert len(parts) == 3
    assert all(weighted_length(p) <= 100 for p in parts)
    assert " ".join(parts).split() == (sentence + ". Short end.").split()


def test_split_thread_rejects_a_word_over_the_limit() -> None:
    with pytest.raises(TooLongToSplit, match="weighted length 300 > 280"):
        split_thread("ok. " + "x" * 300)


_WORD = st.lists(
    st.sampled_from(list("abcxyzABC019'’-é") + ["日", "本", "😷", "👨‍👩‍👧‍👦", "#", "@"]), min_size=1, max_size=8
).map("".join) | st.sampled_from(["https://example.com/a", "x.co", "www.test.io/path"])
_SEPARATOR = st.sampled_from([" ", "  ", ". ", "! ", "? ", "\n", "\n\n", ", ", ".\n", " \t"])


@st.composite
def _texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(_WORD, max_size=120))
    seps = draw(st.lists(_SEPARATOR, min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps, strict=True))


def _assert_thread_properties(text: str, parts: list[str], limit: int) -> None:
    assert [w for p in parts for w in p.split()] == text.split()  # nothing lost or reordered
    assert all(weighted_length(p) <= limit for p in parts)
    assert all(p.strip() for p in parts)


@settings(max_examples=200, deadline=None)
@given(text=_texts(), limit=st.integers(min_value=40, max_value=280))
def test_split_thread_properties(text: str, limit: int) -> None:
    # Words weigh at most 23 (a URL), so every one fits alone under any limit >= 40.
    _assert_thread_properties(text, split_thread(text, limit), limit)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400), limit=st.integers(min_value=10, max_value=280))
def test_split_thread_properties_on_any_text(text: str, limit: int) -> None:
    assume(all(weighted_length(w) <= limit for w in text.split()))
    _assert_thread_properties(text, split_thread(text, limit), limit)


_SENTENCE = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(st.text("abcdefghij", min_size=1, max_size=8), min_size=1, max_size=10),
    st.sampled_from(".!?"),
)


@settings(max_examples=200, deadline=None)
@given(
    sentences=st.lists(_SENTENCE, min_size=1, max_size=30),
    seps=st.lists(st.sampled_from([" ", "\n", "\n\n"]), min_size=30, max_size=30),
    limit=st.integers(min_value=100, max_value=280),
)
def test_split_thread_keeps_sentences_whole_when_they_fit(sentences: list[str], seps: list[str], limit: int) -> None:
    text = "".join(s + sep for s, sep in zip(sentences, seps, strict=False))
    parts = split_thread(text, limit)
    _assert_thread_properties(text, parts, limit)
    assert all(p[-1] in ".!?" for p in parts)


# --- near duplicates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        POST.replace("followers", "revenue"),  # a changed word
        POST.replace(".", "!").replace(",", ""),  # changed punctuation
        POST.upper(),
        POST + " https://example.com/?utm_source=x",  # a link added
        POST.replace("Most founders", "Founders"),  # a dropped word
    ],
)
def test_near_duplicate_is_caught(variant: str) -> None:
    assert near_duplicate(variant, [OTHER, POST]) == POST


def test_near_duplicate_of_a_short_post_with_a_changed_word_is_caught() -> None:
    short = "Stop polishing the landing page and talk to ten customers this week instead."
    assert near_duplicate(short.replace("ten", "five"), [short]) == short


def test_unrelated_text_is_not_a_near_duplicate() -> None:
    assert near_duplicate(OTHER, [POST]) is None
    assert near_duplicate("Pick one channel.", [POST]) is None  # a small overlap is not a duplicate


def test_near_duplicate_of_a_post_without_words() -> None:
    assert near_duplicate("🔥🔥🔥", ["🔥🔥🔥"]) == "🔥🔥🔥"
    assert near_duplicate("🔥🔥🔥", ["🚀🚀🚀"]) is None
    assert near_duplicate("", [""]) is None


def test_recent_posts_returns_the_most_similar_match() -> None:
    changed = POST.replace("followers", "revenue").replace("real data", "data")
    recent = RecentPosts([changed, POST, OTHER])
    found = recent.match(POST.replace("followers", "fans"))
    assert found is not None and found.text == POST
    assert 0.8 <= found.similarity < 1


def test_recent_posts_add() -> None:
    recent = RecentPosts()
    assert recent.match(POST) is None
    recent.add(POST)
    assert len(recent) == 1
    assert recent.match(POST) is not None


# --- banned phrases -----------------------------------------------------------------------------


def test_banned_phrase_is_case_insensitive_and_whole() -> None:
    phrases = ("link in bio", "DM me")
    assert banned_phrase("Grab it now, LINK  IN\nbio!", phrases) == "link in bio"
    assert banned_phrase("just dm me.", phrases) == "DM me"
    assert banned_phrase("blinking in biology class", phrases) is None
    assert banned_phrase("anything", ()) is None


# --- check_draft --------------------------------------------------------------------------------


def test_accepts_a_plain_post() -> None:
    assert gate(draft(f"  {POST}\n"), recent=(OTHER,)) == GateResult(ok=True, parts=(POST,), reason=None)


def test_accepts_a_thread_and_keeps_its_parts() -> None:
    result = gate(draft("Thread: why distribution wins.", POST))
    assert result == GateResult(ok=True, parts=("Thread: why distribution wins.", POST), reason=None)


@pytest.mark.parametrize("parts", [(), ("",), ("  ", "\n\t")])
def test_rejects_an_empty_draft(parts: tuple[str, ...]) -> None:
    assert gate(draft(*parts)) == GateResult(ok=False, parts=(), reason="empty draft")


def test_rejects_too_long_when_threads_are_not_allowed() -> None:
    text = "word " * 62 + "日本"  # 62 * 5 + 2 * 2 = 314
    result = gate(draft(text), allow_threads=False)
    assert result == GateResult(ok=False, parts=(), reason="too long: weighted length 314 > 280")


def test_rejects_a_thread_when_threads_are_not_allowed() -> None:
    result = gate(draft("one", "two"), allow_threads=False)
    assert not result.ok and result.reason == "thread not allowed: draft has 2 parts"


def test_splits_a_long_part_when_threads_are_allowed() -> None:
    text = " ".join([POST, OTHER])
    result = gate(draft("Intro.", text))
    assert result.ok and result.reason is None
    assert result.parts[0] == "Intro."
    assert len(result.parts) >= 3
    assert all(weighted_length(p) <= 280 for p in result.parts)
    assert " ".join(result.parts).split() == ("Intro. " + text).split()


def test_splits_by_the_configured_limit() -> None:
    result = gate(draft(POST), max_weighted_length=100)
    assert result.ok and len(result.parts) > 1
    assert all(weighted_length(p) <= 100 for p in result.parts)


def test_rejects_a_word_too_long_to_split() -> None:
    result = gate(draft("x" * 300))
    assert not result.ok and result.reason == "too long: a single word has weighted length 300 > 280"


def test_rejects_a_banned_phrase_in_any_part() -> None:
    result = gate(draft("Intro.", "More on this, link in bio."), banned_phrases=("dm me", "Link in bio"))
    assert result == GateResult(ok=False, parts=(), reason="banned phrase: 'Link in bio'")


def test_rejects_a_near_duplicate_quoting_the_match() -> None:
    result = gate(draft(POST.replace("followers", "revenue")), recent=(OTHER, POST))
    assert not result.ok and result.parts == ()
    assert result.reason is not None
    assert result.reason.startswith("near duplicate (similarity 0.9")
    assert result.reason.endswith(f"of recent post: '{POST[:59]}…'")


def test_duplicate_threshold_is_configurable() -> None:
    changed = POST.replace("followers", "revenue")
    assert gate(draft(changed), recent=(POST,), duplicate_threshold=0.99).ok


def test_rejects_an_invalid_character() -> None:
    result = gate(draft("Hello\uffffworld"))
    assert result == GateResult(ok=False, parts=(), reason="invalid character U+FFFF (twitter-text refuses it)")


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        GateSettings(max_weighted_length=0)
    with pytest.raises(ValueError):
        GateSettings(duplicate_threshold=1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        GateSettings().allow_threads = False  # type: ignore[misc]
