"""The post stage's records (ports.PostRecords) on SqlStore: the queue, the write-ahead attempts, the rate window.

The statements are those the stage has always sent, built once (a post run every 15 minutes, and building a
statement costs more than SQLite takes to run it); the stage owns the transactions they run in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from growthloop.adapters.store.prepared import Prepared
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts, content_metadata, post_attempts
from growthloop.domain import POSTED, POSTING, QUEUED, PublishReceipt
from growthloop.ports import LeaseCheck

_cm, _pa = content_metadata, post_attempts
# The queue and the posts in flight, counted in one read (a post run every 15 minutes mostly finds nothing).
_WAITING = Prepared(
    select(_cm.c.status, _cm.c.kind, func.count())
    .where(_cm.c.account == bindparam("account"), or_(_cm.c.status == QUEUED, _cm.c.status == POSTING))
    .group_by(_cm.c.status, _cm.c.kind)
)
_MARK_POSTED = Prepared(
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
_ATTEMPT_DONE = Prepared(
    update(_pa)
    .where(_pa.c.id == bindparam("attempt_id"))
    .values(outcome=bindparam("outcome"), finished_at=bindparam("now"), platform_id=bindparam("platform_id"))
)
_ATTEMPT_FAILED = Prepared(
    update(_pa)
    .where(_pa.c.id == bindparam("attempt_id"))
    .values(outcome=bindparam("outcome"), finished_at=bindparam("now"), error=bindparam("error"))
)
_SETTLE = Prepared(
    update(_cm)
    .where(_cm.c.decision_id == bindparam("key"))
    .values(status=bindparam("status"), status_reason=bindparam("reason"), updated_at=bindparam("now"))
)
_WINDOW = Prepared(
    select(_pa.c.started_at)
    .where(
        _pa.c.account == bindparam("account"), _pa.c.kind == bindparam("kind"), _pa.c.started_at >= bindparam("since")
    )
    .order_by(_pa.c.started_at)
)
# the claimer's first write: the account's row (see PostRecords.lock_account)
_LOCK_ACCOUNT = Prepared(
    update(accounts).where(accounts.c.name == bindparam("account")).values(platform=accounts.c.platform)
)
_OLDEST_QUEUED = Prepared(
    select(_cm)
    .where(_cm.c.account == bindparam("account"), _cm.c.status == QUEUED, _cm.c.kind == bindparam("kind"))
    .order_by(_cm.c.id)
    .limit(1)
)
_TAKE = Prepared(
    update(_cm)
    .where(_cm.c.id == bindparam("row_id"), _cm.c.status == QUEUED)
    .values(status=POSTING, status_reason=None, updated_at=bindparam("now"))
)
_ATTEMPT = Prepared(
    _pa.insert()
    .values(
        account=bindparam("account"),
        decision_id=bindparam("decision_id"),
        kind=bindparam("kind"),
        started_at=bindparam("now"),
        outcome="pending",
        lease_token=bindparam("token"),
    )
    .returning(_pa.c.id)
)


class SqlPostRecords:
    def __init__(self, store: SqlStore, lease: LeaseCheck | None) -> None:
        self.store, self._lease = store, lease

    @property
    def lease(self) -> LeaseCheck:
        if self._lease is None:
            raise RuntimeError("these records were built without the lease check: build them with bootstrap")
        return self._lease

    def waiting(self, conn: Connection, account: str) -> list[tuple[str, str, int]]:
        return self.store.run(conn, _WAITING, {"account": account}).all()

    def posting(self, conn: Connection, account: str) -> list[Any]:
        return list(
            conn.execute(
                select(content_metadata).where(
                    content_metadata.c.account == account, content_metadata.c.status == POSTING
                )
            ).all()
        )

    def live_token(self, conn: Connection, account: str) -> str | None:
        return self.lease.live_token(conn, account)

    def verify_held(self, conn: Connection, account: str) -> str | None:
        return self.lease.verify_held(conn, account)

    def last_attempt(self, conn: Connection, decision_id: str) -> Any:
        return conn.execute(
            select(post_attempts.c.id, post_attempts.c.outcome, post_attempts.c.lease_token)
            .where(post_attempts.c.decision_id == decision_id)
            .order_by(post_attempts.c.id.desc())
            .limit(1)
        ).one()

    def attempts(self, conn: Connection, decision_id: str) -> int:
        return conn.execute(
            select(func.count()).select_from(post_attempts).where(post_attempts.c.decision_id == decision_id)
        ).scalar_one()

    def not_found(
        self, conn: Connection, attempt_id: int, decision_id: str, status: str, reason: str, now: datetime
    ) -> None:
        conn.execute(
            update(post_attempts)
            .where(post_attempts.c.id == attempt_id)
            .values(outcome="failed", finished_at=now, error="not found on the platform at reconciliation")
        )
        conn.execute(
            update(content_metadata)
            .where(content_metadata.c.decision_id == decision_id)
            .values(status=status, updated_at=now, status_reason=reason)
        )

    def mark_posted(
        self, conn: Connection, decision_id: str, attempt_id: int, receipt: PublishReceipt, now: datetime, outcome: str
    ) -> None:
        _MARK_POSTED.run(
            conn,
            dict(
                key=decision_id,
                reason=None if outcome == "published" else "reconciled after an unknown outcome",
                platform_id=receipt.platform_id,
                part_ids=list(receipt.part_ids),
                posted_at=receipt.published_at,
                now=now,
            ),
        )
        _ATTEMPT_DONE.run(conn, dict(attempt_id=attempt_id, outcome=outcome, now=now, platform_id=receipt.platform_id))

    def attempt_starts(self, conn: Connection, account: str, kind: str, since: datetime) -> list[datetime]:
        return _WINDOW.run(conn, {"account": account, "kind": kind, "since": since}).scalars()

    def lock_account(self, conn: Connection, account: str) -> None:
        self.store.run(conn, _LOCK_ACCOUNT, {"account": account})

    def oldest_queued(self, conn: Connection, account: str, kind: str) -> Any:
        return self.store.run(conn, _OLDEST_QUEUED, {"account": account, "kind": kind}).first()

    def take(self, conn: Connection, row_id: int, now: datetime) -> int:
        return self.store.run(conn, _TAKE, {"row_id": row_id, "now": now}).rowcount

    def record_attempt(
        self, conn: Connection, account: str, decision_id: str, kind: str, now: datetime, token: str | None
    ) -> int:
        attempt = {"account": account, "decision_id": decision_id, "kind": kind, "now": now, "token": token}
        return int(self.store.run(conn, _ATTEMPT, attempt).scalar_one())

    def attempt_failed(self, conn: Connection, attempt_id: int, outcome: str, now: datetime, error: str) -> None:
        self.store.run(conn, _ATTEMPT_FAILED, dict(attempt_id=attempt_id, outcome=outcome, now=now, error=error))

    def settle(self, conn: Connection, decision_id: str, status: str, reason: str, now: datetime) -> None:
        self.store.run(conn, _SETTLE, dict(key=decision_id, status=status, reason=reason, now=now))
