"""The gate stage: decides whether a draft may be posted, and as which parts.

A draft passes when it is not empty, holds no banned phrase and no character twitter-text
rejects, is not a near duplicate of a recent post, and every part fits the platform's length as the
platform counts it (`text_length`: twitter-text for X, graphemes for Bluesky, the instance's rule for
Mastodon; an over-long part becomes a thread when threads are allowed). A rejection always carries
its reason, because the loop records why a decision produced no post.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex

from growthloop.domain import GRAPHEMES, MASTODON, TWITTER_TEXT, Draft, LengthRule


@dataclass(frozen=True)
class _TwitterText:
    """What the gate takes from twitter-text: its config, tables and functions."""

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
        for match in tt.emoji.finditer(normalized, run.start(), run.end()):
            found[match.start()] = match.end() - match.start()
    return found


# Anything twitter-text could take for a URL has "://" or a dot followed by two letters (a TLD).
_URL_LIKE = re.compile(r"://|\.[A-Za-z]{2}")


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
    urls = tt.extract_urls(normalized)
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


# ---------------------------------------------------------------------------------------------
# Threads

# A sentence ends at whitespace after . ! or ?, or at a line break.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\s*[\r\n]\s*")
_WORD = re.compile(r"\S+")


class TooLongToSplit(ValueError):
    """One word alone is over the limit: no split on word boundaries can make it fit."""


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for brk in [*_SENTENCE_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = brk.end() if brk else end
    return spans


def _joiner(whitespace: str) -> str:
    # Keep paragraph and line breaks between pieces that end up in the same part.
    newlines = whitespace.replace("\r\n", "\n").replace("\r", "\n").count("\n")
    return "\n\n" if newlines >= 2 else "\n" if newlines else " "


def split_thread(
    text: str, max_weighted_length: int = 280, rule: str = TWITTER_TEXT, url_weight: int = 23
) -> list[str]:
    """Split `text` into parts that each fit `max_weighted_length` as the length `rule` counts it, cutting
    between sentences.

    A sentence too long for one part is cut between words. Words are never dropped, changed or
    reordered; only the whitespace between pieces may change. Raises TooLongToSplit when a single
    word is over the limit.
    """
    stripped = text.strip()
    if not stripped:
        return []
    length = length_counter(LengthRule(rule, max_weighted_length, url_weight))
    if length(stripped) <= max_weighted_length:
        return [stripped]
    limit = max_weighted_length
    parts: list[str] = []
    current = ""
    prev_end = 0
    pending = _sentence_spans(text)  # a sentence too long for a part is replaced by its words
    i = 0
    while i < len(pending):
        start, end = pending[i]
        unit = text[start:end]
        candidate = current + _joiner(text[prev_end:start]) + unit if current else unit
        # Checked on the whole candidate, not summed per piece: URLs, emoji and NFC make the
        # count not quite additive.
        if length(candidate) <= limit:
            current, prev_end = candidate, end
            i += 1
        elif current:
            parts.append(current)  # and try the unit again at the start of a new part
            current = ""
        else:
            words = [m.span() for m in _WORD.finditer(text, start, end)]
            if len(words) == 1:
                raise TooLongToSplit(f"too long: a single word has {LENGTH_NAMES[rule]} {length(unit)} > {limit}")
            pending[i : i + 1] = words
    parts.append(current)
    return parts


# ---------------------------------------------------------------------------------------------
# Near duplicates

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_TOKEN = re.compile(r"\w+")

# Shingles are single words, i.e. similarity is the Jaccard index of the two word sets. Posts are
# short: with 3-word shingles one changed word in a 15-word post replaces 3 of its 13 shingles and
# the similarity falls to 10/16 = 0.62, under any sensible threshold; with word sets it is
# 14/16 = 0.875.
# Word order is ignored on purpose: the same words reshuffled read as the same post.
SHINGLE_SIZE = 1


@lru_cache(maxsize=8192)  # the same recent posts are shingled at every planning run
def shingles(text: str, size: int = SHINGLE_SIZE) -> frozenset[str]:
    """Word `size`-grams of `text`, lowercased, with URLs and punctuation removed.

    URLs go because tracking parameters and shorteners vary while the post stays the same. A
    text with no words left (only emoji or a link) keeps its whole lowercased text as its one
    shingle, so posting it twice is still caught.
    """
    words = _TOKEN.findall(_URL.sub(" ", text.lower()))
    if not words:
        whole = " ".join(text.lower().split())
        return frozenset({whole}) if whole else frozenset()
    if size == 1:
        return frozenset(words)
    # Shingles are joined back into strings: set operations on str are several times faster
    # than on tuples, and RecentPosts.match does many of them.
    return frozenset(" ".join(words[i : i + size]) for i in range(max(len(words) - size + 1, 1)))


@dataclass(frozen=True)
class DuplicateMatch:
    text: str
    similarity: float


class RecentPosts:
    """Recent post texts with their shingles computed once, to test many drafts against.

    Give it each recent post's whole text (all parts of a thread), as check_draft compares the
    whole draft.
    """

    def __init__(
        self,
        texts: Iterable[str] = (),
        shingle_size: int = SHINGLE_SIZE,
        known: dict[str, frozenset[str]] | None = None,
    ) -> None:
        """`known`: shingles of texts computed before (of this shingle size), from a cache the caller keeps."""
        self._size = shingle_size
        self._posts: list[tuple[str, frozenset[str]]] = []
        for text in texts:
            sh = known.get(text) if known is not None else None
            if sh is None:
                self.add(text)
            elif sh:
                self._posts.append((text, sh))

    def shingled(self) -> dict[str, frozenset[str]]:
        """Each text held, with its shingles (for the caller's cache)."""
        return dict(self._posts)

    def __len__(self) -> int:
        return len(self._posts)

    def add(self, text: str) -> None:
        """Add a text, e.g. a draft accepted earlier in the same batch."""
        sh = shingles(text, self._size)
        if sh:
            self._posts.append((text, sh))

    def match(self, text: str, threshold: float = 0.8) -> DuplicateMatch | None:
        """The most similar recent post with Jaccard similarity >= threshold, if any."""
        probe = shingles(text, self._size)
        if not probe:
            return None
        n = len(probe)
        # Jaccard is at most min/max of the two set sizes, so only posts with a size in
        # [threshold * n, n / threshold] can match; the rest are skipped without an intersection.
        low, high = threshold * n, n / threshold
        best: DuplicateMatch | None = None
        for recent, sh in self._posts:
            m = len(sh)
            if low <= m <= high:
                common = len(probe & sh)
                similarity = common / (n + m - common)
                if similarity >= threshold and (best is None or similarity > best.similarity):
                    best = DuplicateMatch(recent, similarity)
        return best


def near_duplicate(text: str, recent_texts: Iterable[str], threshold: float = 0.8) -> str | None:
    """The recent text `text` nearly duplicates, or None. Build RecentPosts once for many drafts."""
    found = RecentPosts(recent_texts).match(text, threshold)
    return found.text if found else None


# ---------------------------------------------------------------------------------------------
# Banned phrases


@lru_cache(maxsize=64)
def _banned_patterns(phrases: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    # Whole phrase: not inside a longer word ("ad" must not hit "read"); any run of whitespace
    # between its words.
    return tuple(
        (p, re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, p.split())) + r"(?!\w)", re.IGNORECASE))
        for p in phrases
        if p.strip()
    )


def banned_phrase(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first of `phrases` found in `text` (case-insensitive, whole phrase), if any."""
    for phrase, pattern in _banned_patterns(phrases):
        if pattern.search(text):
            return phrase
    return None


# ---------------------------------------------------------------------------------------------
# The gate


@dataclass(frozen=True)
class GateSettings:
    max_weighted_length: int = 280
    banned_phrases: tuple[str, ...] = ()
    duplicate_threshold: float = 0.8
    allow_threads: bool = True
    length_rule: str = TWITTER_TEXT  # how max_weighted_length is counted: the platform's rule
    url_weight: int = 23

    @property
    def length(self) -> LengthRule:
        return LengthRule(self.length_rule, self.max_weighted_length, self.url_weight)

    def __post_init__(self) -> None:
        if self.max_weighted_length <= 0:
            raise ValueError(f"max_weighted_length must be positive, got {self.max_weighted_length}")
        if not 0 < self.duplicate_threshold <= 1:
            raise ValueError(f"duplicate_threshold must be in (0, 1], got {self.duplicate_threshold}")


@dataclass(frozen=True)
class GateResult:
    ok: bool
    parts: tuple[str, ...]  # what to post; empty when rejected
    reason: str | None  # why it was rejected; None when ok


def _reject(reason: str) -> GateResult:
    return GateResult(ok=False, parts=(), reason=reason)


def _snippet(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def check_draft(draft: Draft, recent: RecentPosts, settings: GateSettings) -> GateResult:
    """Accept `draft` with the parts to post, or reject it with the reason.

    Cheap, final checks come first; length comes last because it is the one that may turn a
    part into a thread, and there is no point splitting a draft that is rejected anyway.
    """
    parts = tuple(p.strip() for p in draft.parts if p.strip())
    if not parts:
        return _reject("empty draft")
    if len(parts) > 1 and not settings.allow_threads:
        return _reject(f"thread not allowed: draft has {len(parts)} parts")

    for part in parts:
        phrase = banned_phrase(part, settings.banned_phrases)
        if phrase is not None:
            return _reject(f"banned phrase: '{phrase}'")
        char = invalid_character(part)
        if char is not None:
            return _reject(f"invalid character U+{ord(char):04X} (twitter-text refuses it)")

    found = recent.match("\n\n".join(parts), settings.duplicate_threshold)
    if found is not None:
        return _reject(f"near duplicate (similarity {found.similarity:.2f}) of recent post: '{_snippet(found.text)}'")

    limit = settings.max_weighted_length
    count = length_counter(settings.length)
    final: list[str] = []
    for part in parts:
        length = count(part)
        if length <= limit:
            final.append(part)
        elif not settings.allow_threads:
            return _reject(f"too long: {LENGTH_NAMES[settings.length_rule]} {length} > {limit}")
        else:
            try:
                final.extend(split_thread(part, limit, settings.length_rule, settings.url_weight))
            except TooLongToSplit as exc:
                return _reject(str(exc))
    return GateResult(ok=True, parts=tuple(final), reason=None)
