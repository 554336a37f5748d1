"""Stage 10, replies (docs/design.md#replies): find opportunities, score them, reply within the limits and the rules.

Opportunities are posts that mention or quote the account (summoned), and posts found by topic search
where the platform allows it. Each is stored once (so never acted on twice), scored, and then:
- summoned, or the platform allows unsummoned replies: a reply is written, gated and queued; the post
  job publishes it under the reply rate limit (default 4 per hour), and it is measured and attributed
  like any post;
- otherwise (X's self-serve API in 2026): the reply is written as a draft, for a person to approve
  (`growthloop replies approve ID`) or reject.

The score, in [0, 2]:

    score = freshness × (0.4 relevance + 0.3 reach + 0.3 velocity) + 0.5 if summoned

    freshness  = 0.5 ** (age / 6 h)                    a reply is worth less as the thread goes cold
    reach      = min(1, log10(1 + author followers) / 6)   1 at a million followers
    velocity   = v / (v + 5), v = (likes + 2 reposts + replies) per hour since the post
    relevance  = min(1, topic words found / 2)          the account's topics and niche words

Text written by others is data, never instructions, in three layers that do not depend on the model: it
reaches a writer only inside a fence (the offline writer never reads it); every reply is checked against
the account's own voice (`loop/voice.py`: no link, handle, ticker, hashtag or number of someone else's, no
repeat of the mention beyond a short quote, after folding case, look-alike letters and invisible
characters); and a reply that fails is held as a draft for a person, with the reason, never posted
automatically (an injected "post this ..." cannot make us post it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from growthloop.config import Settings
from growthloop.domain import QUEUED, Brief, Draft, JobResult, Mention
from growthloop.loop.history import LearningCache
from growthloop.loop.plan import Composer
from growthloop.loop.voice import Voice, account_voice
from growthloop.ports import Clock, Generator, Platform, Records, Row, Store

NEW, DRAFTED, REJECTED, QUEUED_REPLY, SKIPPED_REPLY = "new", "drafted", "rejected", "queued", "skipped"
_WORD = re.compile(r"[a-z0-9]+")
HELD = "held for a person: "  # the reason of a reply that failed the voice check starts so


def score(mention: Mention, keywords: set[str], now: datetime) -> tuple[float, dict[str, float]]:
    age_h = max((now - mention.created_at).total_seconds() / 3600, 0.0)
    freshness = 0.5 ** (age_h / 6)
    reach = min(1.0, math.log10(1 + (mention.author_followers or 0)) / 6)
    engaged = (mention.likes or 0) + 2 * (mention.reposts or 0) + (mention.replies or 0)
    v = engaged / max(age_h, 0.25)
    velocity = v / (v + 5)
    relevance = min(1.0, len(keywords & set(_WORD.findall(mention.text.lower()))) / 2)
    parts = {
        "freshness": freshness,
        "reach": reach,
        "velocity": velocity,
        "relevance": relevance,
        "summoned": 0.5 if mention.summoned else 0.0,
    }
    total = freshness * (0.4 * relevance + 0.3 * reach + 0.3 * velocity) + parts["summoned"]
    return round(total, 4), {k: round(x, 4) for k, x in parts.items()}


def keywords(settings: Settings) -> set[str]:
    words = set(_WORD.findall(settings.niche.lower())) | set(settings.buckets["topic"])
    return {w for w in words if len(w) > 3}


def find_opportunities(
    store: Store, records: Records, platform: Platform, account: str, settings: Settings, now: datetime
) -> int:
    """Store new opportunities (each platform id once) with their score."""
    with store.connect() as conn:
        since = records.reply.last_found(conn, account)
        recently = now - timedelta(seconds=2 * settings.replies.max_age)
        known = records.reply.known(conn, account, recently)
    since = since or now - timedelta(seconds=settings.replies.max_age)
    found = list(platform.mentions(since, now))
    if platform.capabilities().search:
        for query in settings.replies.search_queries or settings.buckets["topic"]:
            found += platform.search_recent(query, now)
    words = keywords(settings)
    rows: dict[str, dict[str, Any]] = {}
    for m in found:
        if m.platform_id in known or m.platform_id in rows:
            continue
        total, parts = score(m, words, now)
        rows[m.platform_id] = dict(
            account=account,
            platform_id=m.platform_id,
            kind=m.kind,
            author=m.author,
            author_followers=m.author_followers,
            text=m.text,
            created_at=m.created_at,
            found_at=now,
            score=total,
            score_parts=parts,
            status=NEW,
            updated_at=now,
        )
    if rows:
        with store.begin() as conn:
            records.reply.add_opportunities(conn, list(rows.values()))
    return len(rows)


def _mention(row: Row) -> Mention:
    return Mention(
        platform_id=row.platform_id,
        kind=row.kind,
        author=row.author,
        author_followers=row.author_followers,
        text=row.text,
        created_at=row.created_at,
    )


def _write(generator: Generator, mention: Mention) -> Any:
    def write(brief: Brief) -> Draft:
        return generator.write_reply(brief, mention)

    return write


def _decide(content: dict[str, Any], automatic: bool, voice: Voice, mention: Mention) -> tuple[str, str | None]:
    """The opportunity's status and reason once its reply is written and gated; `content` is updated to match.

    Only a reply in the account's own voice goes out by itself: any other waits for a person."""
    if content["status"] != QUEUED:
        return SKIPPED_REPLY, content["status_reason"]
    held = voice.check(content["content"], mention)
    if held is not None:
        content |= {"status": "skipped", "status_reason": HELD + held}
        return DRAFTED, HELD + held
    if automatic:
        return QUEUED_REPLY, None
    # A person decides: the reply waits, written and gated, but not queued.
    content |= {"status": "skipped", "status_reason": "draft awaiting approval"}
    return DRAFTED, "unsummoned: the platform allows a reply only after a person approves it"


def answer_opportunities(
    store: Store,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    records: Records,
    learning: LearningCache | None = None,
) -> JobResult:
    """Find new reply opportunities, then reply to (or draft a reply for) the best of them."""
    now = clock.now()
    found = find_opportunities(store, records, platform, account, settings, now)
    replies = records.reply
    with store.begin() as conn:
        oldest = now - timedelta(seconds=settings.replies.max_age)
        stale = replies.skip_stale(conn, account, oldest, settings.replies.min_score, now)
        candidates = replies.candidates(conn, account)
        waiting = replies.replies_waiting(conn, account)
        drafted = replies.drafted(conn, account)
    allowed_unsummoned = platform.capabilities().unsummoned_replies
    todo = _pick(
        candidates,
        allowed_unsummoned,
        room=settings.replies_per_hour - waiting,
        drafts_room=settings.replies.max_pending_drafts - drafted,
        limit=settings.replies.per_run,
    )
    if not todo:
        return JobResult(found, 0, idle_reason=f"{stale} opportunities skipped" if found else None)
    composer = Composer.open(store, records, settings, account, now, platform.capabilities(), learning)
    voice = account_voice(settings)
    n = composer.next_number()
    acted = 0
    for row in todo:
        automatic = row.kind in ("mention", "quote") or allowed_unsummoned
        topic = next((t for t in settings.buckets["topic"] if t in row.text.lower()), None)
        mention = _mention(row)
        content = composer.compose(
            n, _write(generator, mention), in_reply_to=row.platform_id, given={"topic": topic} if topic else None
        )
        n += 1
        status, reason = _decide(content, automatic, voice, mention)
        with store.begin() as conn:
            records.plan.add_content(conn, [content])
            replies.acted(conn, row.id, status, reason, content["decision_id"], now)
        acted += status in (QUEUED_REPLY, DRAFTED)
    return JobResult(found + len(todo), acted, idle_reason=None if acted else "every reply was refused by the gate")


def _pick(candidates: Sequence[Row], allowed_unsummoned: bool, room: int, drafts_room: int, limit: int) -> list[Row]:
    """The best opportunities that fit: replies no faster than they can be posted (the reply queue holds
    at most an hour's worth), and no more drafts than a person can review."""
    picked = []
    for row in candidates:
        automatic = row.kind in ("mention", "quote") or allowed_unsummoned
        if automatic and room > 0:
            room -= 1
        elif not automatic and drafts_room > 0:
            drafts_room -= 1
        else:
            continue
        picked.append(row)
        if len(picked) >= limit:
            break
    return picked


def decide_draft(
    store: Store, records: Records, account: str, opportunity_id: int, approve: bool, now: datetime
) -> str:
    """A person's verdict on a drafted reply: approved drafts are queued, rejected ones never posted."""
    with store.begin() as conn:
        row = records.reply.opportunity(conn, account, opportunity_id)
        if row is None:
            raise LookupError(f"no reply opportunity {opportunity_id} for account {account!r}")
        if row.status != DRAFTED:
            raise ValueError(f"reply opportunity {opportunity_id} is {row.status}, not a draft awaiting approval")
        if approve:
            records.reply.approve_content(conn, row.decision_id, now)
        records.reply.settle_opportunity(
            conn,
            row.id,
            QUEUED_REPLY if approve else REJECTED,
            "approved by a person" if approve else "rejected by a person",
            now,
        )
    return QUEUED_REPLY if approve else REJECTED


def list_opportunities(
    store: Store, records: Records, account: str, status: str | None, limit: int
) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return records.reply.listing(conn, account, status, limit)
