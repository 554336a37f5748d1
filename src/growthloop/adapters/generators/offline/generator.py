"""The offline generator: growthloop's embedded default writer. No network, no model.

It writes posts for the default niche ("sleep, habits and health science") from two bundled data
files, both loaded once per process with importlib.resources + tomllib:

* ``facts.toml``    per topic: a noun, witty quips, predictions, and 10 facts (claim, stat, number,
                    source, tip, myth, versus);
* ``personas.toml`` per persona (the ``generator`` dimension): signoffs, tip/evidence openers,
                    closing questions, thread openers, emoji, vocabulary.

Every chosen dimension value leaves a visible mark:

* ``topic``           the fact (and quip / prediction) comes from that topic;
* ``angle``           a labelled block: "Myth: ... / Fact: ...", "Here's how: / Step 1: ...",
                      "Unpopular opinion: ...", "By the numbers: ...", "I tried it myself: ...",
                      "Prediction: ...";
* ``tone``            a tone line (casual aside, authoritative line, topic quip, gentle line, "today"/"now");
* ``format_strategy`` the layout: one idea, numbered list, closing question, 4-6 part thread, "A vs B";
* ``hook``            the form of the opening line (a figure, a question, "Hard truth: ...", a moment in
                      time, "You ...");
* ``generator``       the persona's signoff (its signature), openers and emoji.

Learned insights (``Brief.insights``) never change the dimensions: the policy decides those. They
steer the choice among template *variants*: each variant is tagged with the dimension values whose
flavour it borrows (e.g. the question hook "Want to know what 4x has to do with sleep?" borrows
``hook=surprising_stat``), and a variant's odds grow with the confidence of the insights naming
one of its tags. So when stats are the top-performing hook but the policy picked a question, the
question tends to carry the number.

Output is deterministic in (generator seed, brief.seed, brief.decision_id, dimensions, insights),
and every part fits ``brief.max_weighted_length`` as twitter-text counts it.
"""

from __future__ import annotations

import hashlib
import random
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from growthloop.domain import DEFAULT_BUCKETS, DIMENSION_DESCRIPTIONS, DIMENSIONS, Brief, Draft, Insight, Mention

# The writer counts with the gate's own count (growthloop.text), so a draft it thinks fits does fit.
from growthloop.text import length_counter, weighted_length

__all__ = [
    "ANGLE_MARKERS",
    "DEFAULT_BUCKETS",
    "DEFAULT_NICHE",
    "HOOK_LEADS",
    "TONE_LINES",
    "Fact",
    "OfflineGenerator",
    "Persona",
    "TopicData",
    "load_facts",
    "load_personas",
    "render_prompt",
]

DEFAULT_NICHE = "sleep, habits and health science"


# A template variant: (template, tags). A tag "dimension=value" names a value whose flavour the
# variant borrows; insights naming that value make the variant more likely.
Variant = tuple[str, tuple[str, ...]]

# How strongly insights tilt variant choice: weight = 1 + INSIGHT_PULL * sum(confidence of matches).
INSIGHT_PULL = 8.0

HOOK_VARIANTS: dict[str, tuple[Variant, ...]] = {
    "surprising_stat": (
        ("{stat}", ("angle=data_driven",)),
        ("Stat of the day: {stat}", ("generator=data_nerd", "generator=scientist")),
        ("{stat} Let that sink in.", ("tone=urgent", "tone=witty", "hook=bold_claim")),
    ),
    "question": (
        ("Still think {myth_q}?", ("angle=myth_busting", "angle=contrarian")),
        ("Want to know what {number} has to do with {noun}?", ("hook=surprising_stat", "angle=data_driven")),
        ("Ever wonder why {noun} advice keeps changing?", ("generator=skeptic", "tone=casual")),
    ),
    "bold_claim": (
        ("Hard truth: {claim}", ("tone=authoritative",)),
        ("Bold claim: {claim}", ()),
        ("Hot take, backed by data: {claim}", ("hook=surprising_stat", "angle=data_driven", "angle=contrarian")),
        ("Truth you need to hear: {claim}", ("hook=direct_address", "tone=urgent")),
    ),
    "story_opening": (
        ("Last month I finally took {noun} seriously.", ("angle=personal_story", "generator=storyteller")),
        ("Yesterday a friend asked me about {noun}.", ("tone=casual", "generator=friend")),
        ("A year ago, I'd never heard this {noun} number: {number}.", ("hook=surprising_stat", "angle=data_driven")),
    ),
    "direct_address": (
        ("You should know this about {noun}.", ()),
        ("If {noun} matters to you, read this.", ("tone=empathetic", "tone=urgent")),
        ("You're one number away from rethinking {noun}: {number}.", ("hook=surprising_stat", "angle=data_driven")),
        ("You've probably heard that {myth_q}. Not so fast.", ("angle=myth_busting", "angle=contrarian")),
    ),
}

# The shortest form of each hook, used only when a post would not fit otherwise.
HOOK_COMPACT: dict[str, str] = {
    "surprising_stat": "{number}: the {noun} number to know.",
    "question": "Want to know what {number} has to do with {noun}?",
    "bold_claim": "Hard truth: {claim}",
    "story_opening": "Yesterday a friend asked me about {noun}.",
    "direct_address": "You should know this about {noun}.",
}

# Opening-line leads that identify a hook form (tests classify first lines with them).
HOOK_LEADS: dict[str, tuple[str, ...]] = {
    "bold_claim": ("Hard truth:", "Bold claim:", "Hot take, backed by data:", "Truth you need to hear:"),
    "story_opening": ("Last month", "Yesterday", "A year ago"),
    "direct_address": ("You", "If "),
}

MYTH_FACT_LABELS: tuple[Variant, ...] = (
    ("Fact:", ()),
    ("Reality:", ("tone=authoritative",)),
    ("What the science says:", ("generator=scientist", "angle=data_driven")),
)
HOW_TO_HEADERS: tuple[Variant, ...] = (
    ("Here's how:", ()),
    ("How to start:", ("tone=urgent",)),
    ("How to make it stick:", ("tone=empathetic", "generator=coach")),
)
CONTRARIAN_LABELS: tuple[Variant, ...] = (
    ("Unpopular opinion:", ("tone=witty", "hook=bold_claim")),
    ("Contrarian take:", ()),
    ("Against the grain:", ("generator=skeptic",)),
)
DATA_LABELS: tuple[Variant, ...] = (
    ("By the numbers:", ("hook=surprising_stat",)),
    ("The data:", ()),
    ("What the data says:", ("generator=data_nerd", "generator=scientist")),
)
STORY_LABELS: tuple[Variant, ...] = (
    ("I tried it myself:", ()),
    ("My own experiment:", ("generator=data_nerd", "angle=data_driven")),
    ("What worked for me:", ("hook=story_opening", "generator=storyteller")),
)
PREDICTION_LABELS: tuple[Variant, ...] = (
    ("Prediction:", ()),
    ("My bet:", ("tone=casual",)),
    ("Calling it:", ("hook=bold_claim", "tone=urgent")),
)
STORY_RESULTS = (
    "Two weeks in, I noticed the difference.",
    "Small change. I felt it within a week.",
    "Didn't expect much. It stuck.",
)
FOLLOWUPS = ("Do it for 7 days straight.", "Track how you feel each day.", "Review it after 2 weeks.")

_ANGLE_LABELS: dict[str, tuple[Variant, ...]] = {
    "myth_busting": MYTH_FACT_LABELS,
    "how_to": HOW_TO_HEADERS,
    "contrarian": CONTRARIAN_LABELS,
    "data_driven": DATA_LABELS,
    "personal_story": STORY_LABELS,
    "prediction": PREDICTION_LABELS,
}

# Strings that identify an angle in a draft (at least one is always present).
ANGLE_MARKERS: dict[str, tuple[str, ...]] = {
    "myth_busting": ("Myth:", "That's a myth."),
    "how_to": tuple(t for t, _ in HOW_TO_HEADERS),
    "contrarian": tuple(t for t, _ in CONTRARIAN_LABELS),
    "data_driven": tuple(t for t, _ in DATA_LABELS),
    "personal_story": tuple(t for t, _ in STORY_LABELS),
    "prediction": tuple(t for t, _ in PREDICTION_LABELS),
}

# Tone lines; "witty" uses the topic's quips from facts.toml instead.
TONE_LINES: dict[str, tuple[str, ...]] = {
    "casual": (
        "Honestly? Easy win.",
        "No pressure, just try it.",
        "Low effort, solid payoff.",
        "Not gonna lie, this one's easy.",
    ),
    "authoritative": (
        "The evidence here is consistent.",
        "This is well established.",
        "The research is clear on this.",
    ),
    "empathetic": (
        "Go easy on yourself.",
        "Progress, not perfection.",
        "Small steps still count.",
        "If it's hard, that's normal.",
    ),
    "urgent": (
        "Start today.",
        "Don't wait. Do it now.",
        "Pick one change and start today.",
        "Now beats next Monday. Start today.",
    ),
}

# Optional extra lines (used when there is room), tagged like the other variants.
KICKERS: tuple[Variant, ...] = (
    ("Source: {source}.", ("hook=surprising_stat", "angle=data_driven", "generator=scientist")),
    ("{tip_intro} {tip}", ("angle=how_to", "generator=coach", "format_strategy=list")),
    ("Common belief: {myth}", ("angle=myth_busting", "angle=contrarian", "hook=bold_claim")),
    ("Small habit, {small_win}.", ("tone=casual", "tone=empathetic", "generator=friend")),
    (
        "A friend tried this and never looked back.",
        ("angle=personal_story", "hook=story_opening", "generator=storyteller"),
    ),
)


# ---------------------------------------------------------------------------------------------
# Data: facts and personas (loaded once per process)


@dataclass(frozen=True, slots=True)
class Fact:
    id: str
    topic: str
    claim: str
    stat: str
    number: str
    source: str
    tip: str
    myth: str
    versus: str
    myth_q: str  # the myth as a clause: first letter lowered, final period dropped


@dataclass(frozen=True, slots=True)
class TopicData:
    name: str
    noun: str
    quips: tuple[str, ...]
    predictions: tuple[str, ...]
    facts: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    description: str
    signoffs: tuple[str, ...]
    tip_intros: tuple[str, ...]
    evidence_intros: tuple[str, ...]
    questions: tuple[str, ...]
    thread_intros: tuple[str, ...]
    emoji: tuple[str, ...]
    emoji_rate: float
    vocabulary: Mapping[str, str]


def _read_toml(name: str) -> dict:
    return tomllib.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def _as_clause(sentence: str) -> str:
    s = sentence.rstrip().rstrip(".!")
    if len(s) > 1 and not s[1].isupper():
        s = s[0].lower() + s[1:]
    return s


def _strings(table: Mapping, key: str, where: str) -> tuple[str, ...]:
    value = table.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: '{key}' must be a non-empty list of strings")
    return tuple(value)


_FACT_FIELDS = ("id", "claim", "stat", "number", "source", "tip", "myth", "versus")


@lru_cache(maxsize=1)
def load_facts() -> dict[str, TopicData]:
    """The bundled fact base, by topic. Parsed once per process."""
    raw = _read_toml("facts.toml").get("topics", {})
    topics: dict[str, TopicData] = {}
    for name, table in raw.items():
        facts = []
        for entry in table.get("facts", []):
            where = f"facts.toml [{name}] {entry.get('id', '?')}"
            fields = {k: entry.get(k) for k in _FACT_FIELDS}
            missing = [k for k, v in fields.items() if not isinstance(v, str) or not v]
            if missing:
                raise ValueError(f"{where}: missing {missing}")
            if fields["number"] not in fields["stat"]:
                raise ValueError(f"{where}: number {fields['number']!r} not in stat")
            if " vs " not in fields["versus"]:
                raise ValueError(f"{where}: versus must contain ' vs '")
            facts.append(Fact(topic=name, myth_q=_as_clause(fields["myth"]), **fields))
        if not facts:
            raise ValueError(f"facts.toml [{name}]: no facts")
        topics[name] = TopicData(
            name=name,
            noun=str(table.get("noun", name.replace("_", " "))),
            quips=_strings(table, "quips", f"facts.toml [{name}]"),
            predictions=_strings(table, "predictions", f"facts.toml [{name}]"),
            facts=tuple(facts),
        )
    return topics


@lru_cache(maxsize=1)
def load_personas() -> dict[str, Persona]:
    """The bundled personas, by name. Parsed once per process."""
    raw = _read_toml("personas.toml").get("personas", {})
    personas: dict[str, Persona] = {}
    for name, table in raw.items():
        where = f"personas.toml [{name}]"
        personas[name] = Persona(
            name=name,
            description=str(table.get("description", name)),
            signoffs=_strings(table, "signoffs", where),
            tip_intros=_strings(table, "tip_intros", where),
            evidence_intros=_strings(table, "evidence_intros", where),
            questions=_strings(table, "questions", where),
            thread_intros=_strings(table, "thread_intros", where),
            emoji=tuple(table.get("emoji", ())),
            emoji_rate=float(table.get("emoji_rate", 0.0)),
            vocabulary=dict(table.get("vocabulary", {})),
        )
    return personas


@lru_cache(maxsize=1)
def _all_topics() -> TopicData:
    """A pooled topic, used for topic values the fact base does not know."""
    topics = list(load_facts().values())
    return TopicData(
        name="*",
        noun="healthy habits",
        quips=tuple(q for t in topics for q in t.quips),
        predictions=tuple(p for t in topics for p in t.predictions),
        facts=tuple(f for t in topics for f in t.facts),
    )


# ---------------------------------------------------------------------------------------------
# Length


def _truncate(line: str, budget: int, length: Callable[[str], int] = weighted_length) -> str:
    """Cut `line` at a word boundary so that it weighs at most `budget`, ending with an ellipsis."""
    if length(line) <= budget:
        return line
    words = line.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(" ,;:.") + "…"
        if length(candidate) <= budget:
            return candidate
    cut = line
    while cut and length(cut + "…") > budget:
        cut = cut[:-1]
    return cut + "…" if cut else ""


def _fit(part: str, limit: int, length: Callable[[str], int] = weighted_length, floor: int = 24) -> str:
    """Last resort (only for limits far below 280): shorten the longest lines after the opening one,
    none below `floor`, then cut the whole part if it still does not fit (as the platform's `length` counts)."""
    lines = part.split("\n")
    while (excess := length("\n".join(lines)) - limit) > 0:
        candidates = [i for i in range(1, len(lines)) if length(lines[i]) > floor]
        if not candidates:
            break
        i = max(candidates, key=lambda j: length(lines[j]))
        shorter = _truncate(lines[i], max(floor, length(lines[i]) - excess), length)
        if not shorter or length(shorter) >= length(lines[i]):
            break
        lines[i] = shorter
    text = "\n".join(lines).strip()
    if length(text) > limit:
        text = _truncate(text, limit, length) or text[: max(1, limit // 2)]
    return text


# ---------------------------------------------------------------------------------------------
# Prompt


def render_prompt(brief: Brief) -> str:
    """The full textual brief the generator works from (the LLM writer sends exactly this)."""
    personas = load_personas()
    lines = [
        f'You write posts for an X (Twitter) account in the niche "{brief.niche}".',
        f"Each post (each part of a thread) must be at most {brief.max_weighted_length} weighted characters.",
        "",
        "Write to these chosen dimensions:",
    ]
    ordered = [d for d in DIMENSIONS if d in brief.dimensions]
    ordered += [d for d in brief.dimensions if d not in DIMENSIONS]
    for dim in ordered:
        value = brief.dimensions[dim]
        if dim == "generator":
            persona = personas.get(value)
            meaning = f"write as {persona.description}" if persona else f"write in the voice of a {value}"
        else:
            fallback = f"use {value.replace('_', ' ')} as the {dim}"
            meaning = DIMENSION_DESCRIPTIONS.get(dim, {}).get(value, fallback)
        lines.append(f"- {dim}: {value} ({meaning})")
    lines += ["", "What has worked so far:"]
    lines.append(brief.top_performers_text() or "No learned insights yet.")
    lines += [
        "",
        "Rules:",
        "- Plain language; general education, not medical advice.",
        "- Only real, well-established findings; round the figures, name the kind of source.",
        "- No hashtags, no links, no made-up quotes.",
        "- Reply with the post text only; separate thread parts with a line containing only ---.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The generator


def _stable_seed(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _preferences(insights: Sequence[Insight]) -> dict[str, float]:
    prefs: dict[str, float] = {}
    for i in insights:
        tag = f"{i.dimension}={i.value}"
        prefs[tag] = prefs.get(tag, 0.0) + min(1.0, max(0.0, float(i.confidence)))
    return prefs


def _pick(rng: random.Random, variants: Sequence[Variant], prefs: Mapping[str, float]) -> str:
    """One variant's template; insights naming a variant's tags raise its odds."""
    if not prefs:
        return variants[rng.randrange(len(variants))][0]
    weights = [1.0 + INSIGHT_PULL * sum(prefs.get(t, 0.0) for t in tags) for _, tags in variants]
    return rng.choices(variants, weights=weights)[0][0]


def _resolve(dimensions: Mapping[str, str], dim: str, known: Collection[str]) -> str:
    value = dimensions.get(dim)
    return value if value is not None and value in known else DEFAULT_BUCKETS[dim][0]


class _Post:
    """All random choices for one draft, made up front; render(level) only drops or compacts."""

    def __init__(self, brief: Brief, rng: random.Random) -> None:
        dims = brief.dimensions
        facts = load_facts()
        personas = load_personas()
        prefs = _preferences(brief.insights)

        topic_value = dims.get("topic", "")
        self.topic = facts.get(topic_value) or _all_topics()
        self.angle = _resolve(dims, "angle", _ANGLE_LABELS)
        self.tone = _resolve(dims, "tone", DEFAULT_BUCKETS["tone"])
        self.format = _resolve(dims, "format_strategy", DEFAULT_BUCKETS["format_strategy"])
        self.hook_kind = _resolve(dims, "hook", HOOK_VARIANTS)
        self.persona = personas.get(dims.get("generator", "")) or next(iter(personas.values()))
        p = self.persona

        pool = self.topic.facts
        i = rng.randrange(len(pool))
        self.fact = f = pool[i]
        self.bonus = pool[(i + 1 + rng.randrange(len(pool) - 1)) % len(pool)] if len(pool) > 1 else None
        self.slots = {
            "claim": f.claim,
            "stat": f.stat,
            "number": f.number,
            "source": f.source,
            "tip": f.tip,
            "myth": f.myth,
            "myth_q": f.myth_q,
            "versus": f.versus,
            "noun": self.topic.noun,
            "small_win": p.vocabulary.get("small_win", "a small win"),
        }

        self.hook = _pick(rng, HOOK_VARIANTS[self.hook_kind], prefs).format_map(self.slots)
        self.hook_compact = HOOK_COMPACT[self.hook_kind].format_map(self.slots)
        self.label = _pick(rng, _ANGLE_LABELS[self.angle], prefs)
        self.label_short = min((t for t, _ in _ANGLE_LABELS[self.angle]), key=len)
        self.prediction = rng.choice(self.topic.predictions)
        self.story_result = rng.choice(STORY_RESULTS)
        self.followups = rng.sample(FOLLOWUPS, len(FOLLOWUPS))

        tone_pool = self.topic.quips if self.tone == "witty" else TONE_LINES[self.tone]
        self.tone_line = rng.choice(tone_pool)
        self.tone_short = min(tone_pool, key=len)
        self.signoff_plain = rng.choice(p.signoffs)
        self.signoff_short = min(p.signoffs, key=len)
        emoji = rng.choice(p.emoji) if p.emoji else ""
        with_emoji = emoji and rng.random() < p.emoji_rate
        self.signoff = f"{self.signoff_plain} {emoji}" if with_emoji else self.signoff_plain
        self.tip_intro = rng.choice(p.tip_intros)
        self.evidence_intro = rng.choice(p.evidence_intros)
        self.question = rng.choice(p.questions)
        self.thread_intro = rng.choice(p.thread_intros)
        self.thread_extras = rng.randrange(3)  # 0-2 optional thread parts: 4-6 parts in all
        self.slots["tip_intro"] = self.tip_intro

        # What the chosen hook and angle already say, so that extras do not repeat it.
        self.stat_in_hook = f.stat in self.hook
        self.claim_in_hook = f.claim in self.hook
        self.myth_in_hook = f.myth_q in self.hook
        used = self.hook + "\n" + "\n".join(self.angle_lines(full=True))
        kickers = [k for k in KICKERS if not self._repeats(k[0], used)]
        self.kicker = _pick(rng, kickers, prefs).format_map(self.slots) if kickers else ""

    def _repeats(self, template: str, used: str) -> bool:
        f = self.fact
        return (
            ("{source}" in template and f.source in used)
            or ("{tip}" in template and f.tip in used)
            or ("{myth}" in template and (f.myth in used or f.myth_q in used))
        )

    # -- angle -----------------------------------------------------------------------------

    def angle_lines(self, full: bool, compact: bool = False) -> list[str]:
        """The angle's block as lines: the marker line(s) first, then (if full) the supporting line.

        Whatever the hook already says (its claim, myth or figure) is not said twice.
        """
        f, a = self.fact, self.angle
        label = self.label_short if compact else self.label
        support = full and not compact
        if a == "myth_busting":
            first = "That's a myth." if self.myth_in_hook else f"Myth: {f.myth}"
            if not self.claim_in_hook:
                return [first, f"{label} {f.claim}"]
            return [first, f"{label} {f.stat}"] if support and not self.stat_in_hook else [first]
        if a == "how_to":
            lines = [label, f"Step 1: {f.tip}"]
            return lines + [f"Step 2: {self.followups[0]}"] if support else lines
        if a == "contrarian":
            if self.claim_in_hook:
                if compact:
                    return [f'{label} forget "{f.myth_q}".']
                return [f'{label} the popular line, "{f.myth_q}", doesn\'t hold up.']
            lines = [f"{label} {f.claim}"]
            if support and not self.myth_in_hook:
                lines.append(f'Everyone repeats "{f.myth_q}". I don\'t buy it.')
            return lines
        if a == "data_driven":
            if compact or self.stat_in_hook:
                return [f"{label} {f.number}, per {f.source}."]
            return [f"{label} {f.stat}"] + ([f"Source: {f.source}."] if full else [])
        if a == "personal_story":
            return [f"{label} {f.tip}"] + ([self.story_result] if support else [])
        # prediction
        reason = [f"The reason: {f.claim}"] if support and not self.claim_in_hook else []
        return [f"{label} {self.prediction}"] + reason

    def list_items(self, compact: bool) -> tuple[str | None, list[str]]:
        """(header, items) for the list format: at least three numbered items."""
        f = self.fact
        if self.angle == "how_to":
            return self.label, [f.tip, *self.followups[:2]]
        items = self.angle_lines(full=not compact, compact=compact)
        if f.tip not in "\n".join(items):
            items.append(f.tip if compact else f"{self.tip_intro} {f.tip}")
        items += self.followups[: max(0, 3 - len(items))]
        return None, items

    # -- layouts ---------------------------------------------------------------------------

    # Detail levels, most detailed first. render() drops or compacts, never re-draws.
    LEVELS = (4, 3, 2, 1, 0)

    def render(self, level: int) -> list[str]:
        """Parts at a detail level.

        4 everything; 3 no kicker; 2 no supporting lines; 1 compact angle, shortest tone line and
        signoff, no emoji; 0 as 1 with the compact hook too.
        """
        if self.format == "thread_deep_dive":
            return self.thread()
        compact = level <= 1
        hook = self.hook_compact if level == 0 else self.hook
        tone = self.tone_short if compact else self.tone_line
        signoff = self.signoff_short if compact else self.signoff
        tail = "\n".join(x for x in (self.kicker if level >= 4 else "", tone) if x)

        if self.format == "list":
            header, items = self.list_items(compact)
            numbered = "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1))
            body = f"{header}\n{numbered}" if header else numbered
            blocks = [hook, body, tail, signoff]
        else:
            body = "\n".join(self.angle_lines(full=level >= 3, compact=compact))
            if self.format == "comparison":
                blocks = [hook, self.fact.versus, body, tail, signoff]
            elif self.format == "question":
                blocks = [hook, body, tail, signoff, self.question]
            else:  # single_insight
                blocks = [hook, body, tail, signoff]
        return ["\n\n".join(blocks) if level > 0 else "\n".join(blocks)]

    def thread(self) -> list[str]:
        f = self.fact
        angle = self.angle_lines(full=True)
        used = self.hook + "\n" + "\n".join(angle)
        if f.stat not in used or f.claim not in used:
            evidence_part = f"{self.evidence_intro} {f.stat if f.stat not in used else f.claim}"
            if f.source not in used:
                evidence_part += f"\nSource: {f.source}."
        elif f.source not in used:
            evidence_part = f"{self.evidence_intro} that figure comes from {f.source}."
        else:
            evidence_part = f"{self.evidence_intro} small, steady changes beat big one-off efforts."
        parts = [f"{self.hook}\n\n{self.thread_intro} 🧵", "\n".join(angle), evidence_part]
        used += "\n" + evidence_part
        if f.tip not in used:
            extras = [f"{self.tip_intro} {f.tip}\n{self.followups[0]}"]
        elif f.claim not in used:
            extras = [f"Why it works: {f.claim}\n{self.followups[-1]}"]
        else:
            extras = [f"{self.tip_intro} {self.followups[-1]}"]
        if self.bonus is not None:
            extras.append(f"Bonus: {self.bonus.stat}")
        parts += extras[: self.thread_extras]
        kicker = self.kicker if self.kicker and self.kicker not in "\n".join(parts) else ""
        closing = "\n".join(x for x in (kicker, self.tone_line) if x)
        parts.append(f"{closing}\n\n{self.signoff}")
        n = len(parts)
        return [f"{part} {k}/{n}" for k, part in enumerate(parts, 1)]


class OfflineGenerator:
    """The embedded default writer: template posts from the bundled fact base, no network.

    Implements the Generator port: ``name`` and ``write(brief) -> Draft``.
    """

    name = "offline"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        load_facts()
        load_personas()

    def write(self, brief: Brief) -> Draft:
        dims = brief.dimensions
        rng = random.Random(
            _stable_seed(self.seed, brief.seed, brief.decision_id, *(f"{k}={dims[k]}" for k in sorted(dims)))
        )
        post = _Post(brief, rng)
        limit = brief.max_weighted_length
        length = length_counter(brief.length)  # the platform's own count
        parts: list[str] = []
        for level in _Post.LEVELS:
            parts = post.render(level)
            if all(length(p) <= limit for p in parts):
                break
        else:
            parts = [_fit(p, limit, length) for p in parts]
        persona = dims.get("generator", post.persona.name)
        return Draft(parts=tuple(parts), generator=persona, dimensions=dict(dims))

    def write_reply(self, brief: Brief, mention: Mention) -> Draft:
        """A short, friendly reply in the persona's voice with one fact and tip on the brief's topic.

        Built only from our own templates and fact base: the mention's text is never read into the
        reply, so nothing it says can steer what we post.
        """
        dims = brief.dimensions
        rng = random.Random(_stable_seed(self.seed, brief.seed, brief.decision_id, mention.platform_id))
        facts = load_facts()
        topic = facts.get(dims.get("topic", "")) or _all_topics()
        persona = load_personas().get(dims.get("generator", "")) or next(iter(load_personas().values()))
        fact = topic.facts[rng.randrange(len(topic.facts))]
        text = f"@{mention.author} {rng.choice(persona.evidence_intros)} {fact.stat} {fact.tip}"
        return Draft(
            parts=(_fit(text, brief.max_weighted_length, length_counter(brief.length)),),
            generator=persona.name,
            dimensions=dict(dims),
        )
