"""Plain types shared by every stage of the loop. No framework imports here."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

# The content dimensions of docs/design.md#plan, in the order the seed stored them.
DIMENSIONS: tuple[str, ...] = ("topic", "angle", "tone", "format_strategy", "hook", "generator")

# The default niche's buckets: the values each dimension may take. Settings may replace them; the
# offline writer's templates, the default world's effects and these share the names.
DEFAULT_BUCKETS: dict[str, tuple[str, ...]] = {
    "topic": ("sleep", "nutrition", "exercise", "stress", "focus", "longevity"),
    "angle": ("myth_busting", "how_to", "contrarian", "data_driven", "personal_story", "prediction"),
    "tone": ("casual", "authoritative", "witty", "empathetic", "urgent"),
    "format_strategy": ("single_insight", "list", "question", "thread_deep_dive", "comparison"),
    "hook": ("surprising_stat", "question", "bold_claim", "story_opening", "direct_address"),
    "generator": ("scientist", "coach", "skeptic", "storyteller", "data_nerd", "friend"),
}

# One line per value of the default buckets: what choosing it asks of the writer, quoted in the LLM writer's
# prompt (adapters/generators/llm/prompting.py). The personas (the generator dimension) are described in each
# writer's own files (the offline personas.toml, the LLM's prompts/personas/).
DIMENSION_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "topic": {
        "sleep": "sleep duration, timing, regularity and sleep quality",
        "nutrition": "what and how we eat and drink",
        "exercise": "movement, fitness and strength",
        "stress": "stress, recovery, mood and social connection",
        "focus": "attention, distraction and deep work",
        "longevity": "everyday habits linked to a longer, healthier life",
    },
    "angle": {
        "myth_busting": "name a common belief and correct it with evidence",
        "how_to": "give concrete steps the reader can take",
        "contrarian": "take a stance against the popular advice, and back it up",
        "data_driven": "lead with a figure and where it comes from",
        "personal_story": "tell it as a first-person experience",
        "prediction": "make a clear prediction about where this is heading",
    },
    "tone": {
        "casual": "relaxed and conversational, like texting a friend",
        "authoritative": "confident and precise, the expert's voice",
        "witty": "light and clever, with a quip",
        "empathetic": "warm and understanding, no guilt",
        "urgent": "act-now energy: why today matters",
    },
    "format_strategy": {
        "single_insight": "one post, one idea",
        "list": "one post built around a numbered list",
        "question": "one post that ends with a question to the reader",
        "thread_deep_dive": "a thread of 3-6 posts that goes deeper",
        "comparison": "one post contrasting two options (A vs B)",
    },
    "hook": {
        "surprising_stat": "open with a surprising figure",
        "question": "open with a question",
        "bold_claim": "open with a bold, quotable claim",
        "story_opening": "open with a moment in time, like a story",
        "direct_address": "open by speaking to the reader as 'you'",
    },
}

# How a platform counts a post's length (growthloop.text.text_length counts by each):
TWITTER_TEXT = "twitter-text"  # X: weighted characters (CJK and emoji 2, every URL 23), NFC
GRAPHEMES = "graphemes"  # Bluesky: user-perceived characters (Unicode extended grapheme clusters)
MASTODON = "mastodon"  # graphemes, each URL with a scheme as the instance's URL weight, @user@domain as @user
LENGTH_RULES = (TWITTER_TEXT, GRAPHEMES, MASTODON)


@dataclass(frozen=True)
class LengthRule:
    """A platform's length rule and its limit per post (or per part of a thread)."""

    name: str = TWITTER_TEXT
    limit: int = 280
    url_weight: int = 23  # what a link counts for under MASTODON (twitter-text's own is fixed at 23)

    def __post_init__(self) -> None:
        if self.name not in LENGTH_RULES:
            raise ValueError(f"unknown length rule {self.name!r} (known: {', '.join(LENGTH_RULES)})")
        if self.limit <= 0 or self.url_weight < 0:
            raise ValueError(f"a length rule needs a positive limit, got {self.limit} (url weight {self.url_weight})")


# Post statuses (docs/design.md#post): queued -> posting -> posted | failed | skipped.
QUEUED, POSTING, POSTED, FAILED, SKIPPED = "queued", "posting", "posted", "failed", "skipped"


# Time is an aware UTC datetime everywhere but inside growthloop.learning, which counts seconds since the Unix
# epoch in numpy arrays. These two convert at that boundary (docs/architecture.md, "Time").
def epoch_seconds(when: datetime) -> float:
    """An aware datetime as learning counts time: seconds since the Unix epoch."""
    return when.timestamp()


def from_epoch_seconds(seconds: float) -> datetime:
    """Seconds since the Unix epoch, as learning counts time, back to an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class JobResult:
    """What a stage returns to the job runner (jobs/runner.py), which records it in the run's row."""

    items_in: int
    items_out: int
    # Why a run that had input produced nothing, when that is expected (e.g. "rate limit").
    # A run with input, no output and no reason is flagged in its run record (I1).
    idle_reason: str | None = None
    # A run may ask to be woken earlier than its interval (the post job, when the rate limit frees).
    # Never later: recurrence does not depend on a previous run (I7).
    wake_at: datetime | None = None


@dataclass(frozen=True)
class Insight:
    """One learned figure quoted back to the generator (docs/design.md#feed-back)."""

    dimension: str
    value: str
    avg_followers: float
    engagement_rate: float | None  # None when the platform gave no impressions
    uses: int
    confidence: float

    def line(self) -> str:
        rate = "n/a" if self.engagement_rate is None else f"{self.engagement_rate:.2%}"
        return (
            f"{self.value} (avg followers {self.avg_followers:.2f}, engagement rate {rate}, "
            f"uses {self.uses}, confidence {self.confidence:.2f})"
        )


@dataclass(frozen=True)
class Brief:
    """What the generator is asked to write: the chosen dimension values and what was learned."""

    decision_id: str
    niche: str
    dimensions: dict[str, str]
    insights: tuple[Insight, ...] = ()
    max_weighted_length: int = 280
    seed: int = 0
    length_rule: str = TWITTER_TEXT  # how max_weighted_length is counted (see LengthRule)
    url_weight: int = 23

    @property
    def length(self) -> LengthRule:
        return LengthRule(self.length_rule, self.max_weighted_length, self.url_weight)

    def top_performers_text(self) -> str:
        """The seed's "TOP PERFORMING ..." prompt block, built from the insights."""
        lines: list[str] = []
        for dim in DIMENSIONS:
            quoted = [i for i in self.insights if i.dimension == dim]
            if quoted:
                label = dim.replace("_", " ").upper()
                lines.append(f"TOP PERFORMING {label}S: " + "; ".join(i.line() for i in quoted))
        return "\n".join(lines)


@dataclass(frozen=True)
class Draft:
    """A generator's output: one post, or a thread when there are several parts."""

    parts: tuple[str, ...]
    generator: str
    dimensions: dict[str, str] = field(default_factory=dict)

    @property
    def is_thread(self) -> bool:
        return len(self.parts) > 1

    @property
    def text(self) -> str:
        return "\n\n".join(self.parts)


@dataclass(frozen=True)
class PublishRequest:
    """What the post stage hands the platform. `dimensions` only matter to the simulator."""

    key: str  # our decision id: lets a platform adapter find an earlier attempt
    parts: tuple[str, ...]
    dimensions: dict[str, str] = field(default_factory=dict)
    in_reply_to: str | None = None  # a reply to someone else's post


@dataclass(frozen=True)
class PublishReceipt:
    platform_id: str  # id of the first part
    part_ids: tuple[str, ...]
    published_at: datetime


# The counters of PostMetrics, in its order: what a platform may report for a post, what measure stores in
# metric_snapshots and what the simulated audience accrues. (Learning reads three signals made of them:
# learning.steps.SIGNALS.)
METRIC_COUNTERS: tuple[str, ...] = (
    "impressions",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "bookmarks",
    "profile_clicks",
    "link_clicks",
)


@dataclass(frozen=True)
class PostMetrics:
    """Counters a platform reports for one post. None means the platform does not give it."""

    platform_id: str
    impressions: int | None
    likes: int | None
    reposts: int | None
    replies: int | None
    quotes: int | None
    bookmarks: int | None
    profile_clicks: int | None
    link_clicks: int | None


@dataclass(frozen=True)
class Capabilities:
    impressions: bool
    profile_clicks: bool
    unsummoned_replies: bool  # may we reply, unasked, to a post that did not mention or quote us?
    search: bool = False
    max_weighted_length: int = 280  # the limit per post, counted by `length_rule`
    length_rule: str = TWITTER_TEXT  # TWITTER_TEXT, GRAPHEMES or MASTODON
    url_weight: int = 23  # what a URL counts for under MASTODON (the instance's characters_reserved_per_url)

    @property
    def length(self) -> LengthRule:
        return LengthRule(self.length_rule, self.max_weighted_length, self.url_weight)


# How a reply opportunity reached us: mentioned or quoted (summoned), or found by topic search.
MENTION, QUOTE, SEARCH = "mention", "quote", "search"


@dataclass(frozen=True)
class Mention:
    """A post by someone else that we might reply to. Its text is untrusted input."""

    platform_id: str
    kind: str
    author: str
    author_followers: int | None
    text: str
    created_at: datetime
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None

    @property
    def summoned(self) -> bool:
        return self.kind in (MENTION, QUOTE)


@dataclass(frozen=True)
class ValueStats:
    """One row of a performance table: a dimension value's figures as learn last computed them."""

    dimension: str
    value: str
    uses: int
    avg_impressions: float | None
    avg_engagement_rate: float | None
    avg_followers: float | None
    total_followers: float
    posterior_mean: float
    ci_low: float
    ci_high: float
    confidence: float


# The figures a performance table holds for each value, named as its columns.
STAT_FIELDS = tuple(f.name for f in fields(ValueStats) if f.name not in ("dimension", "value"))
