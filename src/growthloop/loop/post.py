"""Stage 4, post: rate limits from the database (I4), write-ahead attempts (I3), reconciliation.

Lifecycle: queued -> posting -> posted | failed | skipped, each with a reason. The attempt row and the
'posting' status are committed before the platform is called; the receipt is committed after. A row
found in 'posting' at the next run had an unknown outcome (a crash, a timeout) and is reconciled
against the platform before anything else is published, unless its attempt is still in flight under
the lease of a live process (jobs/lease.py, checked through the records: ports.PostRecords).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from growthloop.config import Settings
from growthloop.domain import (
    DIMENSIONS,
    FAILED,
    POSTING,
    QUEUED,
    SKIPPED,
    JobResult,
    PublishRequest,
)
from growthloop.errors import AuthFailed, ContentRejected, DryRun, PlatformUnavailable, RateLimited
from growthloop.ports import Clock, Connection, Generator, Platform, Records, Row, Store

HOUR = timedelta(hours=1)
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class RateWindow:
    used: int
    next_allowed: datetime


def rate_window(
    records: Records, conn: Connection, account: str, now: datetime, per_hour: int, kind: str = "post"
) -> RateWindow:
    """Attempts (not successes) in the closed hour [now - 1h, now], and when the next one is allowed.

    Attempts are also spaced by 1h / per_hour, so posts spread over the hour instead of bursting.
    """
    starts = records.post.attempt_starts(conn, account, kind, now - HOUR)
    next_allowed = now
    if len(starts) >= per_hour:
        # The window must first drop its oldest attempts; the closed window needs a strict step past them.
        next_allowed = max(next_allowed, starts[len(starts) - per_hour] + HOUR + timedelta(seconds=1))
    if starts:
        next_allowed = max(next_allowed, starts[-1] + HOUR / per_hour)
    return RateWindow(len(starts), next_allowed)


def _request(row: Row) -> PublishRequest:
    """The platform request for a content_metadata row."""
    parts = tuple(row.thread_parts) if row.thread_parts else (row.content,)
    return PublishRequest(
        key=row.decision_id,
        parts=parts,
        dimensions={d: getattr(row, d) for d in DIMENSIONS},
        in_reply_to=row.in_reply_to,
    )


def reconcile_unknown(store: Store, records: Records, platform: Platform, account: str, now: datetime) -> int:
    """Settle every attempt left in 'posting' by asking the platform whether it went out.

    An attempt still pending under the lease of a live process is that process's post in flight (it
    may not have reached the platform yet): it is left alone. Only attempts whose publisher gave up on
    them ('unknown') or whose lease holder is gone are settled.
    """
    posts = records.post
    settled = 0
    with store.connect() as conn:
        rows = posts.posting(conn, account)
        live = posts.live_token(conn, account) if rows else None
    for row in rows:
        with store.begin() as conn:
            attempt = posts.last_attempt(conn, row.decision_id)
            tries = posts.attempts(conn, row.decision_id)
        if attempt.outcome == "pending" and attempt.lease_token is not None and attempt.lease_token == live:
            continue
        attempt_id = attempt.id
        receipt = platform.find_published(_request(row), now)
        with store.begin() as conn:
            if receipt is not None:
                posts.mark_posted(conn, row.decision_id, attempt_id, receipt, now, "reconciled")
            else:
                give_up = tries >= MAX_ATTEMPTS
                posts.not_found(
                    conn,
                    attempt_id,
                    row.decision_id,
                    FAILED if give_up else QUEUED,
                    (
                        f"gave up after {tries} attempts with unknown outcome"
                        if give_up
                        else "previous attempt's outcome was unknown and it was not found: retrying"
                    ),
                    now,
                )
        settled += 1
    return settled


def _claim_next(
    store: Store, records: Records, account: str, now: datetime, kind: str, per_hour: int
) -> tuple[Row, int] | RateWindow | None:
    """Write-ahead, in one transaction: check the rolling-hour window, mark the oldest queued post
    'posting' and record the attempt; the window when it does not allow one yet (read first without writing);
    None when nothing is queued.

    The transaction starts by writing the account's row: SQLite takes its write lock before the window
    is read, and PostgreSQL locks the row (FOR NO KEY UPDATE), so two claimers of one account (a
    process whose lease was taken over, a future worker) are serialised and cannot both fit one slot.
    """
    posts = records.post
    # Most runs find the window shut (half of them in a simulation): a read says so without the write lock. The
    # window only shuts further as attempts are added, so the locked transaction below checks it again.
    with store.connect() as conn:
        window = rate_window(records, conn, account, now, per_hour, kind)
    if window.next_allowed > now:
        return window
    with store.begin() as conn:
        posts.lock_account(conn, account)
        token = posts.verify_held(conn, account)
        window = rate_window(records, conn, account, now, per_hour, kind)
        if window.next_allowed > now:
            return window
        row = posts.oldest_queued(conn, account, kind)
        if row is None:
            return None
        claimed = posts.take(conn, row.id, now)
        if claimed != 1:
            raise RuntimeError(f"post {row.decision_id} changed status while being claimed")
        attempt_id = posts.record_attempt(conn, account, row.decision_id, kind, now, token)
    return row, attempt_id


def _settle_failure(
    store: Store,
    records: Records,
    decision_id: str,
    attempt_id: int,
    now: datetime,
    status: str,
    reason: str,
    attempt_outcome: str,
) -> None:
    with store.begin() as conn:
        records.post.attempt_failed(conn, attempt_id, attempt_outcome, now, reason)
        if status != POSTING:
            records.post.settle(conn, decision_id, status, reason, now)


def publish_due(
    store: Store,
    platform: Platform,
    generator: Generator,
    clock: Clock,
    account: str,
    settings: Settings,
    records: Records,
) -> JobResult:
    """Publish the oldest queued post, and the oldest queued reply, each when its rate limit allows;
    reconcile unknown outcomes first."""
    now = clock.now()
    with store.connect() as conn:
        waiting = records.post.waiting(conn, account)
    if any(status == POSTING for status, _, _ in waiting):
        reconcile_unknown(store, records, platform, account, now)
        with store.connect() as conn:
            waiting = records.post.waiting(conn, account)
    queued = {kind: n for status, kind, n in waiting if status == QUEUED}
    results = [
        _publish_next(store, records, platform, account, now, "post", settings.posts_per_hour, queued.get("post", 0)),
        _publish_next(
            store, records, platform, account, now, "reply", settings.replies_per_hour, queued.get("reply", 0)
        ),
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
    store: Store,
    records: Records,
    platform: Platform,
    account: str,
    now: datetime,
    kind: str,
    per_hour: int,
    queued: int,
) -> JobResult:
    """Publish the oldest of the `queued` posts of `kind` if the rate limit allows."""
    if per_hour == 0 or queued == 0:
        return JobResult(0, 0)  # switched off (its queue waits), or nothing queued
    claimed = _claim_next(store, records, account, now, kind, per_hour)
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
        _settle_failure(store, records, decision_id, attempt_id, now, SKIPPED, f"dry run: {exc}", "dry_run")
        return JobResult(queued, 0, idle_reason=f"dry run: {exc}")
    except ContentRejected as exc:
        _settle_failure(
            store, records, decision_id, attempt_id, now, FAILED, f"rejected by {platform.name}: {exc}", "failed"
        )
        return JobResult(queued, 0, idle_reason=f"rejected by the platform: {exc}")
    except RateLimited as exc:
        _settle_failure(
            store, records, decision_id, attempt_id, now, QUEUED, f"rate limited by {platform.name}", "failed"
        )
        return JobResult(queued, 0, idle_reason=str(exc), wake_at=exc.until)
    except AuthFailed as exc:
        _settle_failure(
            store, records, decision_id, attempt_id, now, QUEUED, f"{platform.name} refused the credentials", "failed"
        )
        raise AuthFailed(f"{platform.name} refused the credentials: {exc}") from None
    except PlatformUnavailable as exc:
        # Outcome unknown: stay 'posting'; the next run reconciles before any retry.
        _settle_failure(store, records, decision_id, attempt_id, now, POSTING, f"outcome unknown: {exc}", "unknown")
        return JobResult(queued, 0, idle_reason=f"outcome unknown, will reconcile: {exc}")
    except Exception as exc:
        # Cut off (the job's timeout) or a bug: this process is done with the attempt, so the next run
        # reconciles it even though its lease is still live.
        _settle_failure(
            store, records, decision_id, attempt_id, now, POSTING, f"outcome unknown: {type(exc).__name__}", "unknown"
        )
        raise
    with store.begin() as conn:
        records.post.mark_posted(conn, decision_id, attempt_id, receipt, now, "published")
        window = rate_window(records, conn, account, now, per_hour, kind)
    return JobResult(queued, 1, wake_at=window.next_allowed)
