"""Stages 1-3, plan, generate and gate: keep a small queue of ready posts (I8, just in time).

The policy chooses each post's dimension values (with propensities); the generator writes it from a
brief carrying those values and the learned insights; the gate accepts or rejects it with a reason.
Rejected drafts are kept, status 'skipped', with the gate's reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from growthloop.config import Settings
from growthloop.domain import POSTED, POSTING, QUEUED, SKIPPED, Brief, Capabilities, Draft, Insight, JobResult
from growthloop.errors import DraftRejected
from growthloop.learning import Decision, Policy, make_policy
from growthloop.learning.steps import RECENT_TOPICS, decide
from growthloop.loop.gate import GateResult, GateSettings, RecentPosts, WordBits, check_draft
from growthloop.loop.history import LearningCache
from growthloop.loop.learn import read_performance, top_insights
from growthloop.loop.policy import current_policy
from growthloop.loop.spend import budget_guard
from growthloop.ports import Clock, Generator, Platform, Records, Store

ATTEMPTS_PER_SLOT = 3


def gate_settings(settings: Settings, capabilities: Capabilities | None = None) -> GateSettings:
    """The gate's settings, with the platform's own length rule and limit (a configured limit may lower it)."""
    g = settings.gate
    caps = capabilities or Capabilities(impressions=True, profile_clicks=True, unsummoned_replies=False)
    limit = (
        caps.max_weighted_length
        if g.max_weighted_length is None
        else min(g.max_weighted_length, caps.max_weighted_length)
    )
    return GateSettings(
        max_weighted_length=limit,
        banned_phrases=tuple(g.banned_phrases),
        duplicate_threshold=g.duplicate_threshold,
        allow_threads=g.allow_threads,
        length_rule=caps.length_rule,
        url_weight=caps.url_weight,
    )


def content_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


LIVE = (QUEUED, POSTING, POSTED)


def _published_before(store: Store, records: Records, account: str, sha: str) -> bool:
    """Platforms refuse a repeat of any earlier post, however old; near-duplicates are only checked
    against recent posts, so exact repeats are checked here against the whole history."""
    with store.connect() as conn:
        return any(status in LIVE for status in records.plan.statuses_of_text(conn, account, sha))


def _recent_posts(store: Store, account: str, texts: list[str], learning: LearningCache | None) -> RecentPosts:
    """The gate's recent posts; with a cache, only the texts not shingled at the last run are shingled."""
    if learning is None:
        return RecentPosts(texts)
    key = (store.url, account)
    recent = RecentPosts(texts, known=learning.shingles.get(key), bits=learning.word_bits.setdefault(key, WordBits()))
    learning.shingles[key] = recent.shingled()  # the current texts only: the cache stays this small
    return recent


@dataclass
class Composer:
    """Decide, write, gate and record one piece of content: what planning a post and writing a reply share."""

    store: Store
    records: Records
    settings: Settings
    account: str
    now: datetime
    seed: int
    policy: Policy
    insights: tuple[Insight, ...]
    recent: RecentPosts
    topics: list[str]  # of the latest posts and replies, oldest first: the policy weighs topic fatigue
    gates: GateSettings  # with the platform's length rule
    planned: set[str] = field(default_factory=set)
    halted: str | None = None  # a writer's systemic refusal (budget spent, bad credentials): stop the run

    @classmethod
    def open(
        cls,
        store: Store,
        records: Records,
        settings: Settings,
        account: str,
        now: datetime,
        capabilities: Capabilities | None = None,
        learning: LearningCache | None = None,
    ) -> Composer:
        with store.connect() as conn:
            performance = read_performance(records, conn, account, store, learning)
            policy = current_policy(store, records, conn, settings, account, cache=learning)
            # no link posts on a degraded budget
            policy = budget_guard(policy, records, conn, settings, account, now)
            # newest first: the topics for fatigue and the texts the gate compares with, in one read
            n = settings.gate.recent_posts
            latest = records.plan.latest(conn, account, max(n, RECENT_TOPICS))
        topics = [row.topic for row in reversed(latest[:RECENT_TOPICS])]
        recent_texts = [row.content for row in latest[:n]]
        seed = settings.seed or 0
        recent = _recent_posts(store, account, recent_texts, learning)
        return cls(
            store,
            records,
            settings,
            account,
            now,
            seed,
            policy,
            top_insights(performance, settings),
            recent,
            topics,
            gate_settings(settings, capabilities),
        )

    def next_number(self) -> int:
        with self.store.connect() as conn:
            return self.records.plan.content_count(conn, self.account)

    def decide(self, n: int, given: dict[str, str] | None = None, explore: bool = False) -> Decision:
        """The policy's decision number `n`; with `explore`, a uniform one (logged as such)."""
        policy = make_policy("uniform", self.settings.buckets) if explore else self.policy
        decision = decide(policy, self.seed, n, self.now, self.topics)
        if given:
            propensities = {**decision.propensities, **dict.fromkeys(given, 1.0)}
            decision = Decision(
                {**decision.dimensions, **given},
                propensities,
                float(np.prod(list(propensities.values()))),
                decision.policy,
            )
        return decision

    def compose(
        self,
        n: int,
        write: Callable[[Brief], Draft],
        in_reply_to: str | None = None,
        given: dict[str, str] | None = None,
        explore: bool = False,
    ) -> dict[str, Any]:
        """The content_metadata row of decision number `n`: queued, or skipped with the reason.

        `given` fixes some dimensions from the context (a reply's topic is the conversation's); they
        were not the policy's choice, so their logged propensity is 1.
        """
        decision = self.decide(n, given, explore)
        gates = self.gates
        brief = Brief(
            decision_id=f"{self.account}-{n + 1:07d}",
            niche=self.settings.niche,
            dimensions=decision.dimensions,
            insights=self.insights,
            max_weighted_length=gates.max_weighted_length,
            seed=self.seed,
            length_rule=gates.length_rule,
            url_weight=gates.url_weight,
        )
        try:
            draft = write(brief)
        except DraftRejected as exc:
            if exc.systemic:
                self.halted = exc.reason
            return self._row(brief, decision, (), in_reply_to, f"rejected by the writer: {exc.reason}")
        verdict = check_draft(draft, self.recent, gates)
        if in_reply_to is not None and verdict.ok and len(verdict.parts) > 1:
            verdict = GateResult(ok=False, parts=(), reason="a reply must fit in one post")
        parts = verdict.parts if verdict.ok else draft.parts
        sha = content_sha("\n\n".join(parts))
        if verdict.ok and (sha in self.planned or _published_before(self.store, self.records, self.account, sha)):
            verdict = GateResult(ok=False, parts=(), reason="exact duplicate of an earlier post")
        self.planned.add(sha)
        if verdict.ok:
            self.recent.add("\n\n".join(parts))
            self.topics.append(decision.dimensions.get("topic", ""))
        refusal = None if verdict.ok else f"rejected by the gate: {verdict.reason}"
        return self._row(brief, decision, parts, in_reply_to, refusal)

    def _row(
        self, brief: Brief, decision: Decision, parts: tuple[str, ...], in_reply_to: str | None, refusal: str | None
    ) -> dict[str, Any]:
        text = "\n\n".join(parts)
        return dict(
            account=self.account,
            decision_id=brief.decision_id,
            status=SKIPPED if refusal else QUEUED,
            status_reason=refusal,
            kind="reply" if in_reply_to else "post",
            in_reply_to=in_reply_to,
            **decision.dimensions,
            content=text,
            content_sha=content_sha(text),
            brief_insights=[f"{i.dimension}={i.value}" for i in self.insights],
            thread_parts=list(parts) if len(parts) > 1 else None,
            is_thread=len(parts) > 1,
            policy=decision.policy,
            propensity=decision.propensity,
            propensities=decision.propensities,
            created_at=self.now,
            updated_at=self.now,
        )


def plan_posts(
    store: Store,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    records: Records,
    learning: LearningCache | None = None,
) -> JobResult:
    """Top the queue up to `queue_size` ready posts: decide, write, gate, record. A rejected draft is kept,
    skipped, and another decision drawn, up to ATTEMPTS_PER_SLOT per free slot."""
    now = clock.now()
    if not settings.jobs["post"].enabled:
        return JobResult(0, 0, idle_reason="posting is disabled, so nothing is generated (I8)")
    with store.connect() as conn:
        depth = records.plan.queue_depth(conn, account)
    need = settings.queue_size - depth
    if need <= 0:
        return JobResult(0, 0)
    composer = Composer.open(store, records, settings, account, now, platform.capabilities(), learning)
    first = composer.next_number()
    rows: list[dict[str, Any]] = []
    queued = 0
    # A rejected draft (a near-duplicate, mostly) is kept as skipped and another decision is drawn, so the
    # queue fills even when the policy keeps to a few values; bounded, so a writer that fails stops.
    explore = False
    for n in range(first, first + need * ATTEMPTS_PER_SLOT):
        rows.append(composer.compose(n, generator.write, explore=explore))
        queued += rows[-1]["status"] == QUEUED
        # The policy's favourite values can exhaust what the writer has to say about them (its drafts come
        # back as repeats): the slot's next decision is then drawn uniformly, and logged so.
        explore = "duplicate" in (rows[-1]["status_reason"] or "")
        if composer.halted or queued == need:
            break
    with store.begin() as conn:
        records.plan.add_content(conn, rows)
    reason = next((r["status_reason"] for r in rows if r["status"] != QUEUED), None)
    return JobResult(need, queued, idle_reason=f"every draft rejected: {reason}" if queued == 0 else None)
