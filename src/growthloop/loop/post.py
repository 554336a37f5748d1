"""Stage 4, post: rate limits from the database (I4), write-ahead attempts (I3), reconciliation.

Lifecycle: queued -> posting -> posted | failed | skipped, each with a reason. The attempt row and the
'posting' status are committed before the platform is called; the receipt is committed after. A row
found in 'posting' at the next run had an unknown outcome (a crash, a timeout) and is reconciled
against the platform before anything else is published, unless its attempt is still in flight under
the lease of a live process (jobs/lease.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts, content_metadata, post_attempts
from growthloop.config import Settings
from growthloop.domain import (
    DIMENSIONS,
    FAILED,
    POSTED,
    POSTING,
    QUEUED,
    SKIPPED,
    JobResult,
    PublishReceipt,
    PublishRequest,
)
from growthloop.errors import AuthFailed, ContentRejected, DryRun, PlatformUnavailable, RateLimited
from growthloop.jobs.lease import live_token, verify_held
from growthloop.ports import Clock, Generator, Platform

HOUR = timedelta(hours=1)
MAX_ATTEMPTS = 3

# Built once: a post run every 15 minutes, and building a statement costs more than SQLite takes to run it.
_cm, _pa = content_metadata, post_attempts
_QUEUED = (
    select(_cm.c.kind, func.count())
    .where(_cm.c.account == bindparam("account"), _cm.c.status == QUEUED)
    .group_by(_cm.c.kind)
)
_MARK_POSTED = (
    update(_cm)
    .where(_cm.c.decision_id == bindparam("key"))
    .values(
        status=POSTED,
        status_reason=bindparam("reason"),
        tweet_id=bindparam("platform_id"),
        part_ids=bindparam("part_ids"),
        posted_at=bindparam("posted_at"),
        updated_at=bindparam("now"),
    )
)
_ATTEMPT_DONE = (
    update(_pa)
    .where(_pa.c.id == bindparam("attempt_id"))
    .values(outcome=bindparam("outcome"), finished_at=bindparam("now"), platform_id=bindparam("platform_id"))
)
_ATTEMPT_FAILED = (
    update(_pa)
    .where(_pa.c.id == bindparam("attempt_id"))
    .values(outcome=bindparam("outcome"), finished_at=bindparam("now"), error=bindparam("error"))
)
_SETTLE = (
    update(_cm)
    .where(_cm.c.decision_id == bindparam("key"))
    .values(status=bindparam("status"), status_reason=bindparam("reason"), updated_at=bindparam("now"))
)


@dataclass(frozen=True)
class RateWindow:
    used: int
    next_allowed: datetime


def rate_window(conn: Connection, account: str, now: datetime, per_hour: int, kind: str = "post") -> RateWindow:
    """Attempts (not successes) in the closed hour [now - 1h, now], and when the next one is allowed.

    Attempts are also spaced by 1h / per_hour, so posts spread over the hour instead of bursting.
    """
    starts = [
        r[0]
        for r in conn.execute(
            select(post_attempts.c.started_at)
            .where(
                post_attempts.c.account == account,
                post_attempts.c.kind == kind,
                post_attempts.c.started_at >= now - HOUR,
            )
            .order_by(post_attempts.c.started_at)
        )
    ]
    next_allowed = now
    if len(starts) >= per_hour:
        # The window must first drop its oldest attempts; the closed window needs a strict step past them.
        next_allowed = max(next_allowed, starts[len(starts) - per_hour] + HOUR + timedelta(seconds=1))
    if starts:
        next_allowed = max(next_allowed, starts[-1] + HOUR / per_hour)
    return RateWindow(len(starts), next_allowed)


def _request(row: Any) -> PublishRequest:
    """The platform request for a content_metadata row."""
    parts = tuple(row.thread_parts) if row.thread_parts else (row.content,)
    return PublishRequest(
        key=row.decision_id,
        parts=parts,
        dimensions={d: getattr(row, d) for d in DIMENSIONS},
        in_reply_to=row.in_reply_to,
    )


def _mark_posted(
    conn: Connection, decision_id: str, attempt_id: int, receipt: PublishReceipt, now: datetime, outcome: str
) -> None:
    conn.execute(
        _MARK_POSTED,
        dict(
            key=decision_id,
            reason=None if outcome == "published" else "reconciled after an unknown outcome",
            platform_id=receipt.platform_id,
            part_ids=list(receipt.part_ids),
            posted_at=receipt.published_at,
            now=now,
        ),
    )
    conn.execute(_ATTEMPT_DONE, dict(attempt_id=attempt_id, outcome=outcome, now=now, platform_id=receipt.platform_id))


def reconcile_unknown(store: SqlStore, platform: Platform, account: str, now: datetime) -> int:
    """Settle every attempt left in 'posting' by asking the platform whether it went out.

    An attempt still pending under the lease of a live process is that process's post in flight (it
    may not have reached the platform yet): it is left alone. Only attempts whose publisher gave up on
    them ('unknown') or whose lease holder is gone are settled.
    """
    settled = 0
    with store.connect() as conn:
        rows = conn.execute(
            select(content_metadata).where(content_metadata.c.account == account, content_metadata.c.status == POSTING)
        ).all()
        live = live_token(conn, account) if rows else None
    for row in rows:
        with store.begin() as conn:
            attempt = conn.execute(
                select(post_attempts.c.id, post_attempts.c.outcome, post_attempts.c.lease_token)
                .where(post_attempts.c.decision_id == row.decision_id)
                .order_by(post_attempts.c.id.desc())
                .limit(1)
            ).one()
            tries = conn.execute(
                select(func.count()).select_from(post_attempts).where(post_attempts.c.decision_id == row.decision_id)
            ).scalar_one()
        if attempt.outcome == "pending" and attempt.lease_token is not None and attempt.lease_token == live:
            continue
        attempt_id = attempt.id
        receipt = platform.find_published(_request(row), now)
        with store.begin() as conn:
            if receipt is not None:
                _mark_posted(conn, row.decision_id, attempt_id, receipt, now, "reconciled")
            else:
                conn.execute(
                    update(post_attempts)
                    .where(post_attempts.c.id == attempt_id)
                    .values(outcome="failed", finished_at=now, error="not found on the platform at reconciliation")
                )
                give_up = tries >= MAX_ATTEMPTS
                conn.execute(
                    update(content_metadata)
                    .where(content_metadata.c.decision_id == row.decision_id)
                    .values(
                        status=FAILED if give_up else QUEUED,
                        updated_at=now,
                        status_reason=(
                            f"gave up after {tries} attempts with unknown outcome"
                            if give_up
                            else "previous attempt's outcome was unknown and it was not found: retrying"
                        ),
                    )
                )
        settled += 1
    return settled


def _claim_next(
    store: SqlStore, account: str, now: datetime, kind: str, per_hour: int
) -> tuple[Any, int] | RateWindow | None:
    """Write-ahead, in one transaction: check the rolling-hour window, mark the oldest queued post
    'posting' and record the attempt; the window when it does not allow one yet; None when nothing is queued.

    The transaction starts by writing the account's row: SQLite takes its write lock before the window
    is read, and PostgreSQL locks the row (FOR NO KEY UPDATE), so two claimers of one account (a
    process whose lease was taken over, a future worker) are serialised and cannot both fit one slot.
    """
    with store.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.name == account).values(platform=accounts.c.platform))
        token = verify_held(conn, store, account)
        window = rate_window(conn, account, now, per_hour, kind)
        if window.next_allowed > now:
            return window
        row = conn.execute(
            select(content_metadata)
            .where(
                content_metadata.c.account == account,
                content_metadata.c.status == QUEUED,
                content_metadata.c.kind == kind,
            )
            .order_by(content_metadata.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        claimed = conn.execute(
            update(content_metadata)
            .where(content_metadata.c.id == row.id, content_metadata.c.status == QUEUED)
            .values(status=POSTING, status_reason=None, updated_at=now)
        ).rowcount
        if claimed != 1:
            raise RuntimeError(f"post {row.decision_id} changed status while being claimed")
        attempt_id = conn.execute(
            post_attempts.insert()
            .values(
                account=account,
                decision_id=row.decision_id,
                kind=kind,
                started_at=now,
                outcome="pending",
                lease_token=token,
            )
            .returning(post_attempts.c.id)
        ).scalar_one()
    return row, int(attempt_id)


def _settle_failure(
    store: SqlStore, decision_id: str, attempt_id: int, now: datetime, status: str, reason: str, attempt_outcome: str
) -> None:
    with store.begin() as conn:
        conn.execute(_ATTEMPT_FAILED, dict(attempt_id=attempt_id, outcome=attempt_outcome, now=now, error=reason))
        if status != POSTING:
            conn.execute(_SETTLE, dict(key=decision_id, status=status, reason=reason, now=now))


def publish_due(
    store: SqlStore, platform: Platform, generator: Generator, clock: Clock, account: str, settings: Settings
) -> JobResult:
    """Publish the oldest queued post, and the oldest queued reply, each when its rate limit allows;
    reconcile unknown outcomes first."""
    now = clock.now()
    reconcile_unknown(store, platform, account, now)
    with store.connect() as conn:
        queued = {kind: n for kind, n in conn.execute(_QUEUED, {"account": account})}
    results = [
        _publish_next(store, platform, account, now, "post", settings.posts_per_hour, queued.get("post", 0)),
        _publish_next(store, platform, account, now, "reply", settings.replies_per_hour, queued.get("reply", 0)),
    ]
    wakes = [r.wake_at for r in results if r.wake_at is not None]
    reasons = [r.idle_reason for r in results if r.idle_reason]
    out = sum(r.items_out for r in results)
    return JobResult(
        sum(r.items_in for r in results),
        out,
        idle_reason="; ".join(reasons) if reasons and not out else None,
        wake_at=min(wakes) if wakes else None,
    )


def _publish_next(
    store: SqlStore, platform: Platform, account: str, now: datetime, kind: str, per_hour: int, queued: int
) -> JobResult:
    """Publish the oldest of the `queued` posts of `kind` if the rate limit allows."""
    if per_hour == 0 or queued == 0:
        return JobResult(0, 0)  # switched off (its queue waits), or nothing queued
    claimed = _claim_next(store, account, now, kind, per_hour)
    if isinstance(claimed, RateWindow):
        return JobResult(
            queued,
            0,
            idle_reason=f"rate limit: next {kind} allowed at {claimed.next_allowed.isoformat()}",
            wake_at=claimed.next_allowed,
        )
    if claimed is None:
        return JobResult(queued, 0, idle_reason="queue emptied while claiming")
    row, attempt_id = claimed
    decision_id = row.decision_id
    try:
        receipt = platform.publish(_request(row), now)
    except DryRun as exc:
        _settle_failure(store, decision_id, attempt_id, now, SKIPPED, f"dry run: {exc}", "dry_run")
        return JobResult(queued, 0, idle_reason=f"dry run: {exc}")
    except ContentRejected as exc:
        _settle_failure(store, decision_id, attempt_id, now, FAILED, f"rejected by {platform.name}: {exc}", "failed")
        return JobResult(queued, 0, idle_reason=f"rejected by the platform: {exc}")
    except RateLimited as exc:
        _settle_failure(store, decision_id, attempt_id, now, QUEUED, f"rate limited by {platform.name}", "failed")
        return JobResult(queued, 0, idle_reason=str(exc), wake_at=exc.until)
    except AuthFailed as exc:
        _settle_failure(
            store, decision_id, attempt_id, now, QUEUED, f"{platform.name} refused the credentials", "failed"
        )
        raise AuthFailed(f"{platform.name} refused the credentials: {exc}") from None
    except PlatformUnavailable as exc:
        # Outcome unknown: stay 'posting'; the next run reconciles before any retry.
        _settle_failure(store, decision_id, attempt_id, now, POSTING, f"outcome unknown: {exc}", "unknown")
        return JobResult(queued, 0, idle_reason=f"outcome unknown, will reconcile: {exc}")
    except Exception as exc:
        # Cut off (the job's timeout) or a bug: this process is done with the attempt, so the next run
        # reconciles it even though its lease is still live.
        _settle_failure(
            store, decision_id, attempt_id, now, POSTING, f"outcome unknown: {type(exc).__name__}", "unknown"
        )
        raise
    with store.begin() as conn:
        _mark_posted(conn, decision_id, attempt_id, receipt, now, "published")
        window = rate_window(conn, account, now, per_hour, kind)
    return JobResult(queued, 1, wake_at=window.next_allowed)
