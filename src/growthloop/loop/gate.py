"""The gate stage: decides whether a draft may be posted, and as which parts.

A draft passes when it is not empty, holds no banned phrase and no character twitter-text
rejects, is not a near duplicate of a recent post, and every part fits the platform's length as the
platform counts it (`growthloop.text.text_length`: twitter-text for X, graphemes for Bluesky, the instance's rule for
Mastodon; an over-long part becomes a thread when threads are allowed). A rejection always carries
its reason, because the loop records why a decision produced no post.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from growthloop.domain import TWITTER_TEXT, Draft, LengthRule
from growthloop.text import LENGTH_NAMES, invalid_character, length_counter

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
        bits: WordBits | None = None,
    ) -> None:
        """`known`: shingles of texts computed before (of this shingle size), and `bits` their word bits, from a
        cache the caller keeps (without one, a vocabulary of these texts only)."""
        self._size = shingle_size
        self._bits = bits if bits is not None else WordBits()
        self._bits.renew_if_full()
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
        probe_bits = self._bits.of(probe)
        if probe_bits is not None:  # the intersections counted on the words' bits: the same counts, 5x faster
            for recent, sh in self._posts:
                m = len(sh)
                if low <= m <= high:
                    bits = self._bits.of(sh)
                    common = len(probe & sh) if bits is None else (probe_bits & bits).bit_count()
                    similarity = common / (n + m - common)
                    if similarity >= threshold and (best is None or similarity > best.similarity):
                        best = DuplicateMatch(recent, similarity)
            return best
        for recent, sh in self._posts:
            m = len(sh)
            if low <= m <= high:
                common = len(probe & sh)
                similarity = common / (n + m - common)
                if similarity >= threshold and (best is None or similarity > best.similarity):
                    best = DuplicateMatch(recent, similarity)
        return best


class WordBits:
    """Each shingle a bit of its own, so that a shingle set is one int and the size of an intersection the bit
    count of an `and`, several times cheaper than intersecting two sets (the same counts). Owned by whoever
    keeps the recent posts between runs (the wiring's `LearningCache`, one per account): its vocabulary and its
    ints grow with that account's posts only. When `max_words` are taken, new texts are compared as sets until
    `renew_if_full` starts afresh, between two uses (a probe and the posts it is compared with must come from
    one vocabulary)."""

    def __init__(self, max_words: int = 1 << 16, max_sets: int = 8192) -> None:
        self.max_words, self.max_sets = max_words, max_sets
        self._bit: dict[str, int] = {}
        self._sets: dict[frozenset[str], int] = {}  # the same recent posts are compared at every planning run

    def __len__(self) -> int:
        return len(self._bit)

    def renew_if_full(self) -> None:
        if len(self._bit) >= self.max_words or len(self._sets) >= self.max_sets:
            self._bit.clear()
            self._sets.clear()

    def of(self, words: frozenset[str]) -> int | None:
        """`words` as an int with each word's bit set; None when the vocabulary is full and a word has no bit."""
        out = self._sets.get(words)
        if out is not None:
            return out
        out = 0
        for word in words:
            bit = self._bit.get(word)
            if bit is None:
                if len(self._bit) >= self.max_words:
                    return None
                bit = self._bit[word] = 1 << len(self._bit)
            out |= bit
        if len(self._sets) < self.max_sets:
            self._sets[words] = out
        return out


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
