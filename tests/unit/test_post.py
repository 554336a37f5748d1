"""Stage 4: rate limits from the database (I4) and write-ahead posting with reconciliation (I3)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts, content_metadata, post_attempts, sim_posts
from growthloop.bootstrap import make_records
from growthloop.domain import POSTED, POSTING, QUEUED, PublishReceipt, PublishRequest
from growthloop.errors import AuthFailed, ContentRejected, PlatformUnavailable, RateLimited
from growthloop.loop.post import publish_due, rate_window
from growthloop.report import max_in_rolling_hour
from tests.conftest import START, Loop


class Flaky:
    """The simulator behind a network edge that fails in the ways a real one does."""

    def __init__(self, inner: object, failure: str) -> None:
        self.inner, self.failure, self.name = inner, failure, "sim"

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        failure, self.failure = self.failure, "none"
        if failure == "timeout_after_sending":
            self.inner.publish(request, now)  # type: ignore[attr-defined]
            raise PlatformUnavailable("read timeout")
        if failure == "timeout_before_sending":
            raise PlatformUnavailable("connect timeout")
        if failure == "rate_limited":
            raise RateLimited(now + timedelta(minutes=7))
        if failure == "auth":
            raise AuthFailed("401 Unauthorized")
        if failure == "rejected":
            raise ContentRejected("403 duplicate content")
        return self.inner.publish(request, now)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def _post(loop: Loop, platform: object) -> object:
    w = loop.wiring
    return publish_due(w.store, platform, w.generator, w.clock, w.account, w.settings, records=w.records)  # type: ignore[arg-type]


def _statuses(loop: Loop) -> dict[str, str]:
    with loop.store.connect() as conn:
        return dict(conn.execute(select(content_metadata.c.decision_id, content_metadata.c.status)).all())


def _published(loop: Loop) -> int:
    with loop.store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sim_posts)).scalar_one())


@pytest.fixture
def queued(loop: Loop) -> Loop:
    loop.run("plan")
    assert list(_statuses(loop).values()).count(QUEUED) == 4
    return loop


def test_a_timeout_after_sending_is_reconciled_not_republished(queued: Loop) -> None:
    result = _post(queued, Flaky(queued.platform, "timeout_after_sending"))
    first = "default-0000001"
    assert _statuses(queued)[first] == POSTING and result.items_out == 0  # type: ignore[attr-defined]
    queued.clock.advance(3600)
    _post(queued, queued.platform)
    with queued.store.connect() as conn:
        row = conn.execute(select(content_metadata).where(content_metadata.c.decision_id == first)).one()
        attempts = conn.execute(select(post_attempts.c.outcome).where(post_attempts.c.decision_id == first)).all()
    assert row.status == POSTED and row.status_reason == "reconciled after an unknown outcome"
    assert row.tweet_id == "default.1" and row.posted_at == START
    assert [a[0] for a in attempts] == ["reconciled"]
    assert _published(queued) == 2  # the reconciled one, then the next in the queue; never the first twice


def test_a_timeout_before_sending_is_retried_after_reconciliation(queued: Loop) -> None:
    _post(queued, Flaky(queued.platform, "timeout_before_sending"))
    queued.clock.advance(3600)
    _post(queued, queued.platform)
    with queued.store.connect() as conn:
        outcomes = [r[0] for r in conn.execute(select(post_attempts.c.outcome).order_by(post_attempts.c.id))]
    assert outcomes == ["failed", "published"]  # reconciliation found nothing, so it was posted again
    assert _statuses(queued)["default-0000001"] == POSTED and _published(queued) == 1


def test_a_failed_attempt_still_counts_against_the_rate_limit(queued: Loop) -> None:
    """I4: limits count attempts, not successes."""
    _post(queued, Flaky(queued.platform, "rate_limited"))
    queued.clock.advance(60)
    result = _post(queued, queued.platform)
    assert result.items_out == 0 and "rate limit" in result.idle_reason  # type: ignore[attr-defined]
    assert _statuses(queued)["default-0000001"] == QUEUED


def test_refused_credentials_fail_the_run_loudly_and_lose_nothing(queued: Loop) -> None:
    with pytest.raises(AuthFailed, match="refused the credentials"):
        _post(queued, Flaky(queued.platform, "auth"))
    assert list(_statuses(queued).values()).count(QUEUED) == 4


def test_rejected_content_fails_with_the_platforms_reason(queued: Loop) -> None:
    _post(queued, Flaky(queued.platform, "rejected"))
    with queued.store.connect() as conn:
        row = conn.execute(select(content_metadata).where(content_metadata.c.decision_id == "default-0000001")).one()
    assert row.status == "failed" and row.status_reason == "rejected by sim: 403 duplicate content"


@settings(max_examples=60, deadline=None)
@given(per_hour=st.integers(1, 6), gaps=st.lists(st.integers(1, 3600), min_size=5, max_size=120))
def test_attempts_never_exceed_the_limit_in_any_rolling_hour(
    tmp_path_factory: pytest.TempPathFactory, per_hour: int, gaps: list[int]
) -> None:
    """Whenever the window allows, an attempt is made; no closed one-hour window ever holds more."""
    url = f"sqlite:///{tmp_path_factory.mktemp('rate') / 'r.db'}"
    store = SqlStore(url)
    store.upgrade()
    records = make_records(store)
    with store.begin() as conn:
        conn.execute(accounts.insert().values(name="a", platform="sim", created_at=START))
    now, made = START, []
    for gap in gaps:
        now += timedelta(seconds=gap)
        with store.begin() as conn:
            if rate_window(records, conn, "a", now, per_hour).next_allowed <= now:
                conn.execute(
                    post_attempts.insert().values(
                        account="a", decision_id=f"d{len(made)}", started_at=now, outcome="failed"
                    )
                )
                made.append(now)
    assert max_in_rolling_hour(made) <= per_hour
    store.dispose()
    create_engine(url).dispose()
