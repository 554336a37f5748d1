"""Is a reply in the account's own voice? The check every reply passes before it can go out unattended.

Text written by others is data, never instructions. The writers fence it (the LLM's prompt quotes it as a
JSON string inside <untrusted_post>; the offline writer never reads it), but a model can still be talked
into obeying it. This check does not depend on the model: it reads only what the reply says.

A reply is held for a person (a draft with the reason, never posted automatically) when it
- carries a link, @handle, $TICKER, #hashtag or number that the account's fact base and topics do not
  (the one handle allowed from outside is the author being answered: a link, ticker, tag or number the
  mention brought is exactly what an injection wants repeated, so the mention supplies none of them);
- repeats the mention beyond a short quote: QUOTE_WORDS consecutive words, or QUOTE_CHARS characters
  of its letters and digits run together (which catches words split, joined or interleaved);
- says what this account never says: asks to be followed or messaged, talks money or crypto, or speaks
  of its own instructions, prompt or keys (NEVER_SAYS);
- or is not about the account's subject at all (no word of its topics, niche or fact base).

Everything is compared after `fold`: Unicode NFKC, zero-width and other invisible characters removed,
look-alike letters (Cyrillic, Greek, ...) mapped to the Latin ones they imitate with Unicode's own
confusables table (UTS #39, through the `confusable_homoglyphs` package), accents dropped, case folded,
and letters spaced out one by one ("g l o w") joined up again.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from growthloop.config import Settings
from growthloop.domain import Mention

QUOTE_WORDS = 4  # a run of this many words of the mention is more than a short quote
QUOTE_CHARS = 20  # ... and so is this many of its letters and digits in a row
FACT_FILES = ("facts.toml", "personas.toml")  # the account's fact base and voices, shipped with the writer

NEVER_SAYS = re.compile(
    r"\b(dms?|direct ?message|inbox me|message me|follow (me|us|back|him|her|them)|followback|follow for follow"
    r"|send (me|us)|click|buy|sell|invest\w*|airdrop|giveaway|endorse\w*|sponsor\w*|promo|discount|coupon"
    r"|crypto\w*|coin|token|wallet|nft|pump|100x|guarantee\w*|api ?key|password|secret|system prompt"
    r"|(my|your|the) (instructions|prompt|rules)|ignore (all|previous|your)|as an ai|jailbreak)\b"
)

# Words of any subject: the fact base uses them, but a reply made of them alone is not about the account's.
_COMMON = frozenset(
    "about after again always because before being could every first great might never other people really right "
    "should something still their there these thing think those today under where which while would years".split()
)
_INVISIBLE = {"Cf", "Cc", "Co", "Cn", "Mn", "Me"}  # format (zero-width), control, private, unassigned, marks
# A dot, or one spelled out to slip past a filter: "glowcoin[.]io", "glowcoin (dot) io", "glowcoin dot io".
_DOT = r"(?:\.|\s*\[\.\]\s*|\s*\(\.\)\s*|\s*\[dot\]\s*|\s*\(dot\)\s*|\s+dot\s+)"
_TLD = (
    r"(?:com|io|net|org|xyz|co|ai|app|info|biz|me|ly|gg|to|link|site|online|shop|club|finance|money|top|ru|cn|tk"
    r"|us|uk|de|fr|eu|tv|cc|dev)"
)
_LINK = re.compile(rf"(?:https?://|www\.)\S+|\b[a-z0-9][a-z0-9-]*(?:{_DOT}[a-z0-9-]+)*{_DOT}{_TLD}\b")
_HANDLE = re.compile(r"(?<![\w.])@[a-z0-9_]{1,30}")
_TICKER = re.compile(r"\$[a-z][a-z0-9]{0,11}\b")
_HASHTAG = re.compile(r"#\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z0-9]+")
_SPACED = re.compile(r"\b\w(?:[ \t._*-]\w\b){2,}")  # "g l o w", "g.l.o.w", "g-l-o-w": one letter at a time


@lru_cache(maxsize=8192)
def _latin(ch: str) -> str:
    """The Latin letter (or digit) a character imitates; itself when it imitates none."""
    if ch.isascii():
        return ch
    from confusable_homoglyphs import confusables  # its table loads in 60 ms: only when a draft has non-ASCII

    for hit in confusables.is_confusable(ch, greedy=True, preferred_aliases=["latin"]) or []:
        for glyph in hit["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].isalnum():
                return str(glyph["c"])
    return ch


def fold(text: str) -> str:
    """The text as a reader sees it, in one canonical spelling (see the module's docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if ch in "\n\t\r" else _latin(ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)  # accents apart from their letters, to be dropped
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE).casefold()
    text = _SPACED.sub(lambda m: re.sub(r"[ \t._*-]", "", m.group()), text)
    return " ".join(text.split())


def _squash(text: str) -> str:
    return "".join(_WORD.findall(text))


def _link_key(link: str) -> str:
    """A link as compared: spelled-out dots read as dots, no scheme, no spaces, no trailing punctuation."""
    link = re.sub(_DOT, ".", link)
    link = re.sub(r"^(https?://)?(www\.)?", "", "".join(link.split()))
    return link.rstrip(".,;:!?)'\"")


@dataclass(frozen=True)
class Marks:
    """What in a text points somewhere or says something checkable: links, handles, tickers, tags, numbers."""

    links: frozenset[str]
    handles: frozenset[str]
    tickers: frozenset[str]
    hashtags: frozenset[str]
    numbers: frozenset[str]

    @classmethod
    def of(cls, folded: str) -> Marks:
        # Each kind is taken out before the next is looked for: "@user21" is a handle, not a 21.
        links = frozenset(_link_key(m) for m in _LINK.findall(folded))
        rest = _LINK.sub(" ", folded)
        handles = frozenset(_HANDLE.findall(rest))
        rest = _HANDLE.sub(" ", rest)
        tickers = frozenset(_TICKER.findall(rest))
        rest = _TICKER.sub(" ", rest)
        hashtags = frozenset(_HASHTAG.findall(rest))
        rest = _HASHTAG.sub(" ", rest)
        numbers = frozenset(n.replace(",", "") for n in _NUMBER.findall(rest))
        return cls(links, handles, tickers, hashtags, numbers)

    def items(self) -> Iterator[tuple[str, frozenset[str]]]:
        yield from (
            ("link", self.links),
            ("handle", self.handles),
            ("ticker", self.tickers),
            ("hashtag", self.hashtags),
            ("number", self.numbers),
        )


@dataclass(frozen=True)
class Voice:
    """The account's own material: the marks it may use, and the words of its subject."""

    marks: Marks
    words: frozenset[str]

    @classmethod
    def of(cls, texts: Iterable[str], subject: Iterable[str]) -> Voice:
        folded = fold(" \n ".join(texts))
        words = {w for w in _WORD.findall(folded) if len(w) >= 5} - _COMMON
        words |= {w for s in subject for w in _WORD.findall(fold(s)) if len(w) >= 4}
        return cls(Marks.of(folded), frozenset(words))

    def check(self, reply: str, mention: Mention) -> str | None:
        """None when the reply may go out unattended; otherwise why a person must see it first."""
        ours, theirs = fold(reply), fold(mention.text)
        marks = Marks.of(ours)
        allowed_handles = self.marks.handles | {"@" + fold(mention.author).lstrip("@")}
        for kind, found in marks.items():
            allowed = allowed_handles if kind == "handle" else dict(self.marks.items())[kind]
            foreign = sorted(found - allowed)
            if foreign:
                return f"a {kind} that is not the account's own: {foreign[0]}"
        echo = _echo(ours, theirs)
        if echo:
            return f"repeats the post it answers beyond a short quote: {echo!r}"
        said = NEVER_SAYS.search(ours)
        if said:
            return f"says what the account never says: {said.group()!r}"
        if not self.words & set(_WORD.findall(ours)):
            return "not about the account's subject: no word of its topics, niche or fact base"
        return None


def _echo(ours: str, theirs: str) -> str | None:
    """The first run of the mention longer than a short quote found in the reply, or None."""
    mine, words = f" {' '.join(_WORD.findall(ours))} ", _WORD.findall(theirs)
    for i in range(len(words) - QUOTE_WORDS + 1):
        run = " ".join(words[i : i + QUOTE_WORDS])
        if f" {run} " in mine:
            return run
    squashed, their_squash = _squash(ours), _squash(theirs)
    for i in range(len(their_squash) - QUOTE_CHARS + 1):
        run = their_squash[i : i + QUOTE_CHARS]
        if run in squashed:
            return run
    return None


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@lru_cache(maxsize=1)
def fact_base() -> tuple[str, ...]:
    """Every text of the account's bundled fact base and personas (what the offline writer builds from)."""
    package = resources.files("growthloop.adapters.generators.offline")
    return tuple(s for name in FACT_FILES for s in _strings(tomllib.loads(package.joinpath(name).read_text("utf-8"))))


@lru_cache(maxsize=16)
def _voice(niche: str, topics: tuple[str, ...]) -> Voice:
    return Voice.of((*fact_base(), niche, *topics), (niche, *topics))


def account_voice(settings: Settings) -> Voice:
    """The voice of the configured account: its fact base, its niche and its topics (the settings buckets)."""
    return _voice(settings.niche, tuple(v for values in settings.buckets.values() for v in values))


__all__ = ["NEVER_SAYS", "QUOTE_CHARS", "QUOTE_WORDS", "Marks", "Voice", "account_voice", "fact_base", "fold"]
