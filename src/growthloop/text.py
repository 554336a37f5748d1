"""How each platform counts and refuses text: the length rules of `domain.LengthRule`, at the bottom of the
layers so that the gate (`loop/gate.py`) and the writers (`adapters/generators/`) count with the one same code.

* `weighted_length`  X: twitter-text v3 weights (CJK and emoji 2, every URL 23), NFC;
* `grapheme_length`  Bluesky: user-perceived characters (Unicode extended grapheme clusters);
* `mastodon_length`  Mastodon: graphemes, each URL with a scheme as the instance's URL weight, @user@domain as @user;
* `text_length` / `length_counter`  by a `LengthRule`; `invalid_character`: what twitter-text refuses in any post;
* `has_url`  whether X finds a link (a post with one is priced higher).

twitter-text is imported on first use (see `_twitter_text`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex

from growthloop.domain import GRAPHEMES, MASTODON, TWITTER_TEXT, LengthRule


@dataclass(frozen=True)
class _TwitterText:
    """What the length rules take from twitter-text: its config, tables and functions."""

    options: dict[str, Any]
    scale: int
    url_weight: int
    emoji_run: re.Pattern[str]
    emoji_markers: frozenset[str]
    emoji: Any  # the library's emoji regex
    extract_urls: Callable[..., list[dict[str, Any]]]
    character_weight: Callable[[str, dict[str, Any]], int]
    line_endings: Callable[[str], str]
    invalid: Any  # the library's invalid-characters regex


@lru_cache(maxsize=1)
def _twitter_text() -> _TwitterText:
    """twitter-text, imported on first use: importing it compiles its URL and emoji regexes (about a
    quarter of a second), which `growthloop --help` and most commands never need."""
    from twitter_text import extract_urls_with_indices
    from twitter_text.config import config
    from twitter_text.get_character_weight import get_character_weight
    from twitter_text.parse_tweet import convert_line_ending
    from twitter_text.regexp.emoji import emoji, emoji_list, single_codepoint_emoji_ranges
    from twitter_text.regexp.invalid_chars import invalid_chars

    # The library's "defaults" is its version 3 config: 280 weighted characters, CJK and other
    # non-Latin code points weigh 2, URLs 23, and an emoji sequence weighs 2 however many code points
    # it has. That is what X counts today, and the config (with its equal "version3") under which
    # every case of the conformance file's current sections (WeightedTweetsWithDiscountedEmojiCounterTest,
    # UnicodeDirectionalMarkerCounterTest) passes; "version2" counts each emoji code point instead.
    options = config["defaults"]
    code_points = {cp for low, high in single_codepoint_emoji_ranges for cp in range(low, high + 1)}
    for entry in emoji_list:
        code_points.update(int(cp, 16) for cp in entry.codepoint.split())
    return _TwitterText(
        options=options,
        scale=options["scale"],
        url_weight=options["transformed_url_length"] * options["scale"],
        emoji_run=_emoji_character_class(code_points),
        # Every emoji has a non-ASCII code point (keycaps start with a digit, # or *, but go on with
        # U+FE0F or U+20E3; test_gate checks it), so a text with none of these holds no emoji.
        emoji_markers=frozenset(chr(cp) for cp in code_points if cp > 0x7F),
        emoji=emoji,
        extract_urls=extract_urls_with_indices,
        character_weight=get_character_weight,
        line_endings=convert_line_ending,
        invalid=invalid_chars,
    )


def _emoji_character_class(code_points: set[int]) -> re.Pattern[str]:
    """Runs of characters that occur in some emoji the library knows: emoji can only be there."""
    ranges: list[list[int]] = []
    for cp in sorted(code_points):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "") for lo, hi in ranges)
    return re.compile(f"[{body}]+")


@lru_cache(maxsize=65536)
def _char_weight(char: str) -> int:
    tt = _twitter_text()
    return tt.character_weight(char, tt.options)


def _emoji_at(normalized: str) -> dict[int, int]:
    """Start -> length of each emoji, as parse_tweet finds them, without scanning all the text.

    The library's emoji regex tries ~2,500 alternatives at every position, which is most of the
    ~1 ms parse_tweet spends on a post. An emoji is made only of emoji characters, so a match
    never crosses the end of a run of them: scanning just the runs (digits, # and * included, as
    keycaps start with them) finds exactly the matches a scan of the whole text finds.
    """
    found: dict[int, int] = {}
    tt = _twitter_text()
    if tt.emoji_markers.isdisjoint(normalized):  # the usual case, and far cheaper than the scan
        return found
    for run in tt.emoji_run.finditer(normalized):
        for offset, length in _emoji_in_run(run.group()):
            found[run.start() + offset] = length
    return found


@lru_cache(maxsize=4096)
def _emoji_in_run(run: str) -> tuple[tuple[int, int], ...]:
    """(offset, length) of each emoji in one run of emoji characters. The same few runs recur in draft after
    draft; the regex has no anchor or look-around (test_gate checks), so a run alone matches as in its text."""
    return tuple((m.start(), m.end() - m.start()) for m in _twitter_text().emoji.finditer(run))


# Anything twitter-text could take for a URL has "://" or a dot followed by two letters (a TLD).
_URL_LIKE = re.compile(r"://|\.[A-Za-z]{2}")
# In any script: every URL it extracts has a domain ending in a dot and a TLD from its lists, and every TLD
# there starts with a word character (tests/unit/test_gate.py checks the lists), so a text where no dot is
# followed by one holds no URL. (Not _URL_LIKE: its regex ignores case in Unicode, where the Kelvin sign
# matches k.) Most drafts with an emoji or a degree sign hold none.
_MAY_HOLD_URL = re.compile(r"\.\w")


def has_url(text: str) -> bool:
    """Whether twitter-text finds a link in `text` (bare domains included), as X finds the links it wraps in
    t.co. Its extraction runs only where a dot is followed by a word character (`_MAY_HOLD_URL`)."""
    return _MAY_HOLD_URL.search(text) is not None and bool(_twitter_text().extract_urls(text))


def weighted_length(text: str) -> int:
    """The weighted length X counts for `text` (twitter-text v3 rules).

    The same sum as twitter_text.parse_tweet, from the library's own URL extraction, emoji table,
    character weights and config, but about 10x faster (see _emoji_at): the gate counts every
    draft and every candidate thread part, and a simulated month must run in seconds.
    tests/unit/test_gate.py checks it against parse_tweet.
    """
    if text.isascii() and "\r" not in text and not _URL_LIKE.search(text):
        # Plain ASCII with nothing a URL could be made of weighs one per character; most drafts
        # are such, and the URL extraction below is the costliest step left.
        return len(text)
    tt = _twitter_text()
    normalized = tt.line_endings(unicodedata.normalize("NFC", text))
    # start -> (length, weight) of each span that counts as a whole; a URL wins over an emoji
    # starting at the same place, as in parse_tweet.
    spans: dict[int, tuple[int, int]] = {}
    if tt.options.get("emoji_parsing_enabled"):
        spans.update((i, (n, tt.options["default_weight"])) for i, n in _emoji_at(normalized).items())
    urls = tt.extract_urls(normalized) if _MAY_HOLD_URL.search(normalized) else []
    spans.update((u["indices"][0], (len(u["url"]), tt.url_weight)) for u in urls)
    total = 0
    pos = 0
    for start in sorted(spans):
        if start < pos:  # inside the previous span: parse_tweet's loop never visits it either
            continue
        length, weight = spans[start]
        total += sum(map(_char_weight, normalized[pos:start])) + weight
        pos = start + length
    total += sum(map(_char_weight, normalized[pos:]))
    return int(total / tt.scale)


_GRAPHEME = regex.compile(r"\X")


def grapheme_length(text: str) -> int:
    """User-perceived characters: Unicode extended grapheme clusters (what Bluesky limits to 300)."""
    if text.isascii() and "\r\n" not in text:
        return len(text)  # one cluster per character, except CR LF
    return sum(1 for _ in _GRAPHEME.finditer(text))


# Mastodon's Account::MENTION_RE: @user, or @user@domain (which counts as @user alone).
_MASTODON_MENTION = regex.compile(
    r"(?<![=/\w])@((?P<user>[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@\w+(?:[.-]+\w+)*)?)", regex.IGNORECASE
)


def mastodon_length(text: str, url_weight: int) -> int:
    """The length Mastodon's StatusLengthValidator counts: graphemes, with each URL that has a scheme
    counted as `url_weight` (the instance's characters_reserved_per_url) and each @user@domain as @user."""
    if "@" not in text and "://" not in text:
        return grapheme_length(text)
    spans = [(u["indices"][0], u["indices"][1], "x" * url_weight) for u in _twitter_text().extract_urls(text, False)]
    spans += [(m.start(), m.end(), "@" + m.group("user")) for m in _MASTODON_MENTION.finditer(text)]
    pieces: list[str] = []
    pos = 0
    for start, end, replacement in sorted(spans):
        if start < pos:  # overlapping entities: the earlier one wins, as in Mastodon's extractor
            continue
        pieces += [text[pos:start], replacement]
        pos = end
    pieces.append(text[pos:])
    return grapheme_length("".join(pieces))


def text_length(text: str, rule: LengthRule) -> int:
    """The length of `text` as the platform of `rule` counts it."""
    if rule.name == TWITTER_TEXT:
        return weighted_length(text)
    if rule.name == GRAPHEMES:
        return grapheme_length(text)
    if rule.name == MASTODON:
        return mastodon_length(text, rule.url_weight)
    raise ValueError(f"unknown length rule {rule.name!r}")


# How a rejection names each rule's count.
LENGTH_NAMES = {TWITTER_TEXT: "weighted length", GRAPHEMES: "length in graphemes", MASTODON: "Mastodon length"}


def length_counter(rule: LengthRule) -> Callable[[str], int]:
    """`text_length` with `rule` fixed: for the writers and the thread splitter."""
    if rule.name == TWITTER_TEXT:
        return weighted_length
    return lambda text: text_length(text, rule)


def invalid_character(text: str) -> str | None:
    """The first character twitter-text refuses in any post (U+FFFE, U+FEFF, U+FFFF), if any."""
    if text.isascii():
        return None  # the three are outside ASCII, and most drafts are ASCII: no need to load twitter-text
    found = _twitter_text().invalid.search(text)
    return found.group() if found else None
