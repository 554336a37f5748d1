"""Stages 1-3, plan, generate and gate: keep a small queue of ready posts (I8, just in time).

The policy chooses each post's dimension values (with propensities); the generator writes it from a
brief carrying those values and the learned insights; the gate accepts or rejects it with a reason.
Rejected drafts are kept, status 'skipped', with the gate's reason.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sqlalchemy import bindparam, func, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, POSTED, POSTING, QUEUED, SKIPPED, Brief
from growthloop.jobs.result import JobResult
from growthloop.loop.gate import GateResult, GateSettings, RecentPosts, check_draft
from growthloop.loop.learn import ValueStats, read_performance, top_insights
from growthloop.loop.policy import ThompsonPolicy
from growthloop.ports import Clock, Generator, Platform


def gate_settings(settings: Settings) -> GateSettings:
    g = settings.gate
    return GateSettings(
        max_weighted_length=g.max_weighted_length,
        banned_phrases=tuple(g.banned_phrases),
        duplicate_threshold=g.duplicate_threshold,
        allow_threads=g.allow_threads,
    )


_policies: dict[tuple[object, ...], ThompsonPolicy] = {}


def _policy(settings: Settings, performance: dict[str, list[ValueStats]], seed: int) -> ThompsonPolicy:
    """Propensities take a Monte Carlo pass; posteriors change only when learn runs, so reuse the policy."""
    key = (
        settings.fingerprint(),
        seed,
        tuple((s.dimension, s.value, s.posterior_mean, s.posterior_sd) for d in DIMENSIONS for s in performance[d]),
    )
    if key not in _policies:
        if len(_policies) > 64:
            _policies.clear()
        _policies[key] = ThompsonPolicy(settings, performance, seed)
    return _policies[key]


def content_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_SAME_TEXT = (
    select(content_metadata.c.id)
    .where(
        content_metadata.c.account == bindparam("account"),
        content_metadata.c.content_sha == bindparam("sha"),
        content_metadata.c.status.in_([QUEUED, POSTING, POSTED]),
    )
    .limit(1)
)


def _published_before(store: SqlStore, account: str, sha: str) -> bool:
    """Platforms refuse a repeat of any earlier post, however old; near-duplicates are only checked
    against recent posts, so exact repeats are checked here against the whole history."""
    with store.connect() as conn:
        return conn.execute(_SAME_TEXT, {"account": account, "sha": sha}).first() is not None


def plan_posts(
    store: SqlStore, platform: Platform, generator: Generator, clock: Clock, account: str, settings: Settings
) -> JobResult:
    """Top the queue up to `queue_size` ready posts: decide, write, gate, record."""
    now = clock.now()
    if not settings.jobs["post"].enabled:
        return JobResult(0, 0, idle_reason="posting is disabled, so nothing is generated (I8)")
    cm = content_metadata
    with store.connect() as conn:
        depth = conn.execute(
            select(func.count()).select_from(cm).where(cm.c.account == account, cm.c.status.in_([QUEUED, POSTING]))
        ).scalar_one()
        need = settings.queue_size - depth
        if need <= 0:
            return JobResult(0, 0)
        seq = conn.execute(select(func.count()).select_from(cm).where(cm.c.account == account)).scalar_one()
        performance = read_performance(conn, account, store)
        recent_texts = [
            r[0]
            for r in conn.execute(
                select(cm.c.content)
                .where(cm.c.account == account, cm.c.status.in_([QUEUED, POSTING, POSTED]))
                .order_by(cm.c.id.desc())
                .limit(settings.gate.recent_posts)
            )
        ]
    seed = settings.seed or 0
    policy = _policy(settings, performance, seed)
    insights = top_insights(performance, settings)
    recent = RecentPosts(recent_texts)
    gates = gate_settings(settings)
    rows, reasons = [], []
    planned: set[str] = set()
    for n in range(seq, seq + need):
        decision = policy.decide(np.random.default_rng([seed, 0x91A7, n]))
        decision_id = f"{account}-{n + 1:07d}"
        brief = Brief(
            decision_id=decision_id,
            niche=settings.niche,
            dimensions=decision.dimensions,
            insights=insights,
            max_weighted_length=gates.max_weighted_length,
            seed=seed,
        )
        draft = generator.write(brief)
        verdict = check_draft(draft, recent, gates)
        parts = verdict.parts if verdict.ok else draft.parts
        sha = content_sha("\n\n".join(parts))
        if verdict.ok and (sha in planned or _published_before(store, account, sha)):
            verdict = GateResult(ok=False, parts=(), reason="exact duplicate of an earlier post")
        planned.add(sha)
        if verdict.ok:
            recent.add("\n\n".join(parts))
        else:
            reasons.append(verdict.reason or "rejected")
        rows.append(
            dict(
                account=account,
                decision_id=decision_id,
                status=QUEUED if verdict.ok else SKIPPED,
                status_reason=None if verdict.ok else f"rejected by the gate: {verdict.reason}",
                **decision.dimensions,
                content="\n\n".join(parts),
                content_sha=sha,
                brief_insights=[f"{i.dimension}={i.value}" for i in insights],
                thread_parts=list(parts) if len(parts) > 1 else None,
                is_thread=len(parts) > 1,
                policy=decision.policy,
                propensity=decision.propensity,
                propensities=decision.propensities,
                created_at=now,
                updated_at=now,
            )
        )
    with store.begin() as conn:
        conn.execute(cm.insert(), rows)
    queued = len(rows) - len(reasons)
    return JobResult(need, queued, idle_reason=f"every draft rejected: {reasons[0]}" if queued == 0 else None)
