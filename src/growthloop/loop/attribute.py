"""Stage 7, attribute: which posts brought followers (SPEC §2.7).

For every posted post until its figures are final: the followers before it and 2 h, 24 h and 48 h after
(the seed's `post_attribution`), the window delta, and the followers attributed to it.

The first model ("surrogate_ratio"): over the trailing week, the net follower change is shared out
among the week's posts in proportion to a per-post surrogate: profile clicks where the platform gives
them, impressions otherwise. Crediting each post with its whole window delta (the seed's way) credits
every post with its ~96 neighbours' followers at 2 posts/hour; this model does not, though it still
lets organic growth inflate every share by the same factor. A later model replaces it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, metric_snapshots, post_attribution
from growthloop.config import Settings
from growthloop.domain import POSTED
from growthloop.jobs.result import JobResult
from growthloop.loop.measure import latest_snapshot_ids
from growthloop.ports import Clock, Generator, Platform

METHOD, VERSION = "surrogate_ratio", "1"
WINDOWS = {
    "followers_2h": timedelta(hours=2),
    "followers_24h": timedelta(hours=24),
    "followers_48h": timedelta(hours=48),
}
TRAILING = timedelta(days=7)


class FollowerSeries:
    """The follower snapshots as sorted arrays, with the look-ups attribution needs."""

    def __init__(self, rows: list[tuple[datetime, int]], tolerance: timedelta) -> None:
        self.times = [t for t, _ in rows]
        self.counts = [c for _, c in rows]
        self.tolerance = tolerance

    def before(self, when: datetime) -> tuple[int | None, str | None]:
        i = bisect_right(self.times, when) - 1
        if i < 0 or when - self.times[i] > self.tolerance:
            return None, f"no follower snapshot within {self.tolerance} before {when.isoformat()}"
        return self.counts[i], None

    def after(self, when: datetime, now: datetime) -> tuple[int | None, str | None]:
        if when > now:
            return None, None  # not due yet: missing, and not a fault
        i = bisect_left(self.times, when)
        if i >= len(self.times) or self.times[i] - when > self.tolerance:
            if when + self.tolerance > now:
                return None, None  # the snapshot may still come
            return None, f"no follower snapshot within {self.tolerance} after {when.isoformat()}"
        return self.counts[i], None

    def change(self, start: datetime, end: datetime) -> int | None:
        i, j = bisect_left(self.times, start), bisect_right(self.times, end) - 1
        return None if j <= i else self.counts[j] - self.counts[i]


def _surrogates(conn: object, account: str, since: datetime) -> dict[str, float]:
    """decision_id -> latest profile clicks (or impressions where clicks are not given)."""
    ms = metric_snapshots
    latest = latest_snapshot_ids(account)
    rows = conn.execute(  # type: ignore[attr-defined]
        select(ms.c.decision_id, ms.c.profile_clicks, ms.c.impressions)
        .join(latest, latest.c.sid == ms.c.id)
        .join(content_metadata, content_metadata.c.decision_id == ms.c.decision_id)
        .where(content_metadata.c.posted_at >= since)
    ).all()
    use_clicks = all(r.profile_clicks is not None for r in rows)
    return {
        r.decision_id: float(r.profile_clicks if use_clicks else r.impressions)
        for r in rows
        if (r.profile_clicks if use_clicks else r.impressions) is not None
    }


def attribute_growth(
    store: SqlStore, platform: Platform, generator: Generator, clock: Clock, account: str, settings: Settings
) -> JobResult:
    """Fill post_attribution for every posted post whose figures are not final yet."""
    now = clock.now()
    tolerance = timedelta(seconds=max(2 * settings.jobs["followers"].interval, 1800))
    cm, pa = content_metadata, post_attribution
    with store.connect() as conn:
        final = select(pa.c.decision_id).where(pa.c.account == account, pa.c.final.is_(True))
        posts = conn.execute(
            select(cm.c.decision_id, cm.c.tweet_id, cm.c.posted_at)
            .where(
                cm.c.account == account, cm.c.status == POSTED, cm.c.posted_at <= now, cm.c.decision_id.not_in(final)
            )
            .order_by(cm.c.posted_at)
        ).all()
        if not posts:
            return JobResult(0, 0)
        start = min(posts[0].posted_at, now - TRAILING) - tolerance
        series = FollowerSeries(
            [
                (r.observed_at, r.followers)
                for r in conn.execute(
                    select(follower_snapshots.c.observed_at, follower_snapshots.c.followers)
                    .where(
                        follower_snapshots.c.account == account,
                        follower_snapshots.c.observed_at >= start,
                        follower_snapshots.c.observed_at <= now,
                    )
                    .order_by(follower_snapshots.c.observed_at)
                )
            ],
            tolerance,
        )
        surrogate = _surrogates(conn, account, min(posts[0].posted_at, now - TRAILING))
        existing = {r[0] for r in conn.execute(select(pa.c.decision_id).where(pa.c.account == account))}
        trailing_posts = [
            r[0]
            for r in conn.execute(
                select(cm.c.decision_id).where(
                    cm.c.account == account,
                    cm.c.status == POSTED,
                    cm.c.posted_at > now - TRAILING,
                    cm.c.posted_at <= now,
                )
            )
        ]
    gain = series.change(now - TRAILING, now)
    signal = sum(surrogate.get(d, 0.0) for d in trailing_posts)
    rate = max(gain, 0) / signal if gain is not None and signal > 0 else None
    inserts, updates = [], []
    for post in posts:
        values, reasons = _figures(post.posted_at, series, now)
        attributed = sd = None
        if rate is None:
            reasons.append("no follower change or no surrogate signal over the trailing week yet")
        elif post.decision_id not in surrogate:
            reasons.append("no metrics snapshot yet")
        else:
            attributed = rate * surrogate[post.decision_id]
            sd = rate * (surrogate[post.decision_id] + 1.0) ** 0.5
        values |= dict(
            attributed_followers=attributed,
            attributed_sd=sd,
            missing_reason="; ".join(reasons) or None,
            method=METHOD,
            method_version=VERSION,
            final=post.posted_at + WINDOWS["followers_48h"] + tolerance <= now,
            updated_at=now,
        )
        if post.decision_id in existing:
            updates.append(dict(values, key=post.decision_id))
        else:
            inserts.append(
                dict(
                    values,
                    account=account,
                    decision_id=post.decision_id,
                    tweet_id=post.tweet_id,
                    posted_at=post.posted_at,
                )
            )
    with store.begin() as conn:
        if inserts:
            conn.execute(pa.insert(), inserts)
        if updates:
            conn.execute(update(pa).where(pa.c.decision_id == bindparam("key")), updates)
    written = len(inserts) + len(updates)
    return JobResult(len(posts), written)


def _figures(posted_at: datetime, series: FollowerSeries, now: datetime) -> tuple[dict[str, object], list[str]]:
    """The seed's window figures of one post, and why any that is due is missing."""
    before, reason = series.before(posted_at)
    values: dict[str, object] = {"followers_before": before}
    reasons = [reason] if reason else []
    latest = None
    for column, offset in WINDOWS.items():
        count, why = series.after(posted_at + offset, now)
        values[column] = count
        if why:
            reasons.append(why)
        if count is not None:
            latest = count
    values["window_delta"] = latest - before if latest is not None and before is not None else None
    return values, reasons
