"""SimPlatform: the audience simulator as a Platform adapter (SPEC §5).

The model in `audience.py` is pure; this adapter keeps the platform's side of the world in the
database (`sim_*` tables): what was published, when each follow and unfollow happens. So a killed
simulation resumes where it was, and a second publish of the same text is refused and recorded, as
a real platform refuses duplicate content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from growthloop.adapters.platforms.sim.audience import Audience, PostOutcome
from growthloop.adapters.platforms.sim.chatter import MENTION_WINDOW, audience_mentions, search_results
from growthloop.adapters.platforms.sim.profiles import PROFILES
from growthloop.adapters.platforms.sim.world import World
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import sim_follower_events, sim_posts, sim_rejections
from growthloop.domain import Capabilities, Mention, PostMetrics, PublishReceipt, PublishRequest
from growthloop.errors import ContentRejected, PlatformUnavailable, RateLimited

_OUTCOME_FIELDS = {f.name for f in fields(PostOutcome)}


def _outcome(data: dict[str, Any]) -> PostOutcome:
    values = {k: v for k, v in data.items() if k in _OUTCOME_FIELDS}
    values["follow_delays"] = tuple(values["follow_delays"])
    return PostOutcome(**values)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SimPlatform:
    name = "sim"

    def __init__(self, store: SqlStore, account: str, world: World, start: datetime) -> None:
        self.store, self.account, self.world, self.start = store, account, world, start
        self.profile = PROFILES[world.platform]  # what the platform shows: X's, Bluesky's or Mastodon's
        self.audience = Audience(world, origin=start)
        self._outcomes: dict[str, tuple[PostOutcome, datetime]] = {}
        self._mentions: dict[str, list[Mention]] = {}  # per post: its conversation is fixed once drawn
        self._calls = 0  # for fault draws; faults are off unless the world sets them

    def capabilities(self) -> Capabilities:
        return self.profile.capabilities

    # -- publishing -------------------------------------------------------------------------------------
    def _maybe_fault(self, kind: str, now: datetime) -> bool:
        """Raise the world's fault for this call, if any. Returns True for a timeout that took effect."""
        self._calls += 1
        fault = self.audience.fault(self._calls, kind)
        if fault is None:
            return False
        if fault.kind == "rate_limited":
            raise RateLimited(now + timedelta(seconds=fault.retry_after_seconds or 900), "sim: 429 Too Many Requests")
        if fault.kind == "server_error":
            raise PlatformUnavailable("sim: 503 Service Unavailable")
        if not fault.applied:
            raise PlatformUnavailable("sim: timeout before the request was received")
        return True

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        applied_then_timed_out = self._maybe_fault("post", now)
        text = "\n\n".join(request.parts)
        with self.store.begin() as conn:
            duplicate = conn.execute(
                select(sim_posts.c.platform_id).where(
                    sim_posts.c.account == self.account, sim_posts.c.text_sha == _sha(text)
                )
            ).first()
            if duplicate is not None:
                conn.execute(
                    sim_rejections.insert().values(
                        account=self.account, at=now, reason=f"duplicate of {duplicate[0]}", text=text
                    )
                )
                raise ContentRejected(f"sim: 403 duplicate content (same text as {duplicate[0]})")
            seq = conn.execute(
                select(func.count()).select_from(sim_posts).where(sim_posts.c.account == self.account)
            ).scalar_one()
            topics = [
                r[0]
                for r in conn.execute(
                    select(sim_posts.c.dimensions)
                    .where(sim_posts.c.account == self.account)
                    .order_by(sim_posts.c.seq.desc())
                    .limit(max(self.world.fatigue.window, 1))
                )
            ]
            recent_topics = [d.get("topic", "") for d in reversed(topics)]
            outcome = self.audience.draw_post(seq, request.dimensions, now, recent_topics)
            platform_id = f"{self.account}.{seq + 1}"
            conn.execute(
                sim_posts.insert().values(
                    account=self.account,
                    platform_id=platform_id,
                    seq=seq,
                    request_key=request.key,
                    text=text,
                    text_sha=_sha(text),
                    parts=list(request.parts),
                    dimensions=dict(request.dimensions),
                    published_at=now,
                    outcome=asdict(outcome),
                    follows=outcome.follows,
                    expected_follows=outcome.expected_follows,
                    viral=outcome.viral,
                )
            )
            if outcome.follow_delays:
                conn.execute(
                    sim_follower_events.insert(),
                    [
                        dict(account=self.account, at=now + timedelta(seconds=d), delta=1, cause=platform_id)
                        for d in outcome.follow_delays
                    ],
                )
        self._outcomes[platform_id] = (outcome, now)
        if applied_then_timed_out:
            raise PlatformUnavailable("sim: timeout after the request was received")
        return self._receipt(platform_id, len(request.parts), now)

    @staticmethod
    def _receipt(platform_id: str, parts: int, published_at: datetime) -> PublishReceipt:
        part_ids = (platform_id,) + tuple(f"{platform_id}.{i}" for i in range(1, parts))
        return PublishReceipt(platform_id=platform_id, part_ids=part_ids, published_at=published_at)

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        """Look for the text among the account's posts, as one would on a real platform."""
        text = "\n\n".join(request.parts)
        with self.store.connect() as conn:
            row = conn.execute(
                select(sim_posts.c.platform_id, sim_posts.c.published_at, sim_posts.c.parts).where(
                    sim_posts.c.account == self.account, sim_posts.c.text_sha == _sha(text)
                )
            ).first()
        return None if row is None else self._receipt(row.platform_id, len(row.parts), row.published_at)

    # -- measuring --------------------------------------------------------------------------------------
    def _load(self, platform_ids: Sequence[str]) -> None:
        missing = [p for p in platform_ids if p not in self._outcomes]
        if not missing:
            return
        with self.store.connect() as conn:
            for row in conn.execute(
                select(sim_posts.c.platform_id, sim_posts.c.outcome, sim_posts.c.published_at).where(
                    sim_posts.c.platform_id.in_(missing)
                )
            ):
                self._outcomes[row.platform_id] = (_outcome(row.outcome), row.published_at)

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]:
        self._maybe_fault("metrics", now)
        self._load(platform_ids)
        out = []
        for pid in platform_ids:
            if pid not in self._outcomes:
                continue  # unknown ids are left out, as X leaves out deleted posts
            outcome, published_at = self._outcomes[pid]
            m = self.audience.metrics_at(outcome, (now - published_at).total_seconds())
            out.append(PostMetrics(platform_id=pid, **self.profile.hide(m)))
        return out

    def follower_count(self, now: datetime) -> int:
        self._maybe_fault("followers", now)
        self._ensure_organic(self.audience.day_index(now))
        with self.store.connect() as conn:
            delta = conn.execute(
                select(func.coalesce(func.sum(sim_follower_events.c.delta), 0)).where(
                    sim_follower_events.c.account == self.account, sim_follower_events.c.at <= now
                )
            ).scalar_one()
        return max(0, self.world.initial_followers + int(delta))

    def _ensure_organic(self, through_day: int) -> None:
        """Write the organic follows and churn of every day up to `through_day`, once each."""
        with self.store.begin() as conn:
            done = conn.execute(
                select(func.count())
                .select_from(sim_follower_events)
                .where(sim_follower_events.c.account == self.account, sim_follower_events.c.cause == "day")
            ).scalar_one()
            for day in range(done, through_day + 1):
                day_start = self.start + timedelta(days=day)
                followers = self.world.initial_followers + int(
                    conn.execute(
                        select(func.coalesce(func.sum(sim_follower_events.c.delta), 0)).where(
                            sim_follower_events.c.account == self.account, sim_follower_events.c.at <= day_start
                        )
                    ).scalar_one()
                )
                rows = [
                    dict(
                        account=self.account,
                        at=day_start + timedelta(seconds=offset),
                        delta=delta,
                        cause="organic" if delta > 0 else "churn",
                    )
                    for offset, delta in self.audience.organic_events(day, max(followers, 0))
                ]
                # A zero-delta marker records that the day was generated, so it never is twice.
                rows.append(dict(account=self.account, at=day_start, delta=0, cause="day"))
                conn.execute(sim_follower_events.insert(), rows)

    # -- replies: mentions, quotes and topic search ----------------------------------------------------
    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        """Replies and quotes of our posts by the simulated audience, as many as each post's counters."""
        window = (
            sim_posts.c.account == self.account,
            sim_posts.c.published_at > since - MENTION_WINDOW,
            sim_posts.c.published_at <= now,
        )
        with self.store.connect() as conn:
            ids = conn.execute(select(sim_posts.c.platform_id).where(*window)).scalars().all()
            new = [i for i in ids if i not in self._mentions]
            if new:  # a post's conversation is fixed once drawn: draw it once
                for row in conn.execute(
                    select(
                        sim_posts.c.platform_id,
                        sim_posts.c.seq,
                        sim_posts.c.published_at,
                        sim_posts.c.dimensions,
                        sim_posts.c.outcome,
                    ).where(sim_posts.c.platform_id.in_(new))
                ):
                    topic = str(row.dimensions.get("topic", "this"))
                    self._mentions[row.platform_id] = audience_mentions(
                        self.world.seed,
                        row.platform_id,
                        row.seq,
                        row.published_at,
                        topic,
                        row.outcome,
                        self.world.injection_rate,
                    )
        return [m for i in ids for m in self._mentions[i] if since < m.created_at <= now]

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        """Posts by others on a topic: one every six hours per query, the last day's worth."""
        return search_results(self.world.seed, query, now, self.world.injection_rate)

    # -- ground truth -----------------------------------------------------------------------------------
    def ground_truth(self, now: datetime) -> dict[str, Any]:
        """The world's true effects and the true followers caused by each post, for evaluation."""
        with self.store.connect() as conn:
            posts = [
                dict(
                    platform_id=r.platform_id,
                    decision_id=r.request_key,
                    dimensions=r.dimensions,
                    published_at=r.published_at.isoformat(),
                    follows=r.follows,
                    expected_follows=r.expected_follows,
                    viral=r.viral,
                )
                for r in conn.execute(
                    select(sim_posts).where(sim_posts.c.account == self.account).order_by(sim_posts.c.seq)
                )
            ]
        return {
            "world": self.world.name,
            "seed": self.world.seed,
            "true_effects": self.audience.true_effects(self.audience.day_index(now)),
            "posts": posts,
        }
