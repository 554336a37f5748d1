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
from sqlalchemy import bindparam, func, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata
from growthloop.config import Settings
from growthloop.domain import POSTED, POSTING, QUEUED, SKIPPED, Brief, Capabilities, Draft, Insight, JobResult
from growthloop.errors import DraftRejected
from growthloop.learning import Decision, Policy, make_policy
from growthloop.learning.steps import RECENT_TOPICS, decide
from growthloop.loop.gate import GateResult, GateSettings, RecentPosts, check_draft
from growthloop.loop.history import LearningCache
from growthloop.loop.learn import read_performance, top_insights
from growthloop.loop.policy import current_policy
from growthloop.ports import Clock, Generator, Platform

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


_cm = content_metadata
LIVE = (QUEUED, POSTING, POSTED)
# Built once: planning runs every half hour, and building a statement costs more than SQLite takes to run it.
# By (account, content_sha) only, with the status checked here: a status condition in the query lets
# SQLite walk the (account, status) index instead, over every post ever posted.
_SAME_TEXT = select(_cm.c.status).where(_cm.c.account == bindparam("account"), _cm.c.content_sha == bindparam("sha"))
_RECENT = (
    select(_cm.c.topic, _cm.c.content)
    .where(_cm.c.account == bindparam("account"), _cm.c.status.in_(LIVE))
    .order_by(_cm.c.id.desc())
    .limit(bindparam("n"))
)
_COUNT = select(func.count()).select_from(_cm).where(_cm.c.account == bindparam("account"))
_DEPTH = (
    select(func.count())
    .select_from(_cm)
    .where(_cm.c.account == bindparam("account"), _cm.c.kind == "post", _cm.c.status.in_([QUEUED, POSTING]))
)


def _published_before(store: SqlStore, account: str, sha: str) -> bool:
    """Platforms refuse a repeat of any earlier post, however old; near-duplicates are only checked
    against recent posts, so exact repeats are checked here against the whole history."""
    with store.connect() as conn:
        return any(status in LIVE for status in conn.execute(_SAME_TEXT, {"account": account, "sha": sha}).scalars())


def _recent_posts(store: SqlStore, account: str, texts: list[str], learning: LearningCache | None) -> RecentPosts:
    """The gate's recent posts; with a cache, only the texts not shingled at the last run are shingled."""
    if learning is None:
        return RecentPosts(texts)
    key = (store.url, account)
    recent = RecentPosts(texts, known=learning.shingles.get(key))
    learning.shingles[key] = recent.shingled()  # the current texts only: the cache stays this small
    return recent


@dataclass
class Composer:
    """Decide, write, gate and record one piece of content: what planning a post and writing a reply share."""

    store: SqlStore
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
        store: SqlStore,
        settings: Settings,
        account: str,
        now: datetime,
        capabilities: Capabilities | None = None,
        learning: LearningCache | None = None,
    ) -> Composer:
        with store.connect() as conn:
            performance = read_performance(conn, account, store, learning)
            policy = current_policy(store, conn, settings, account, cache=learning)
            # newest first: the topics for fatigue and the texts the gate compares with, in one read
            n = settings.gate.recent_posts
            latest = conn.execute(_RECENT, {"account": account, "n": max(n, RECENT_TOPICS)}).all()
        topics = [row.topic for row in reversed(latest[:RECENT_TOPICS])]
        recent_texts = [row.content for row in latest[:n]]
        seed = settings.seed or 0
        recent = _recent_posts(store, account, recent_texts, learning)
        return cls(
            store,
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
            return int(conn.execute(_COUNT, {"account": self.account}).scalar_one())

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
        if verdict.ok and (sha in self.planned or _published_before(self.store, self.account, sha)):
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
    store: SqlStore,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    learning: LearningCache | None = None,
) -> JobResult:
    """Top the queue up to `queue_size` ready posts: decide, write, gate, record. A rejected draft is kept,
    skipped, and another decision drawn, up to ATTEMPTS_PER_SLOT per free slot."""
    now = clock.now()
    if not settings.jobs["post"].enabled:
        return JobResult(0, 0, idle_reason="posting is disabled, so nothing is generated (I8)")
    with store.connect() as conn:
        depth = conn.execute(_DEPTH, {"account": account}).scalar_one()
    need = settings.queue_size - depth
    if need <= 0:
        return JobResult(0, 0)
    composer = Composer.open(store, settings, account, now, platform.capabilities(), learning)
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
        conn.execute(_cm.insert(), rows)
    reason = next((r["status_reason"] for r in rows if r["status"] != QUEUED), None)
    return JobResult(need, queued, idle_reason=f"every draft rejected: {reason}" if queued == 0 else None)
