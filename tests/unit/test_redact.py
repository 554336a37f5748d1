"""One scrubbing function for every outside message: secrets out first, then the cut."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from growthloop.adapters.store.tables import job_runs
from growthloop.jobs.registry import JOBS
from growthloop.jobs.runner import JobRunner
from growthloop.redact import REDACTED, cut, environment_secrets, safe_message, scrub
from tests.conftest import START, Loop

SECRET = "sk-live-0123456789abcdefghij"


def pieces(secret: str) -> set[str]:
    return {secret[i:j] for i in range(len(secret)) for j in range(i + 8, len(secret) + 1)}


@given(before=st.integers(0, 400), limit=st.integers(20, 300), after=st.text(max_size=50))
def test_no_piece_of_a_secret_survives_the_cut_wherever_it_falls(before: int, limit: int, after: str) -> None:
    message = "e" * before + SECRET + after
    shown = safe_message(message, limit, [SECRET])
    assert len(shown) <= limit
    assert not any(p in shown for p in pieces(SECRET))


def test_secrets_from_the_environment_are_scrubbed_and_a_url_by_its_parts() -> None:
    env = {
        "GROWTHLOOP_ALERTS__WEBHOOK_URL": "https://hooks.example.com/services/T1/B2/abcdef123456",
        "GROWTHLOOP_LLM_API_KEY": SECRET,
        "GROWTHLOOP_X_ACCESS_TOKEN_SECRET": "ats-4444aaaa",
        "GROWTHLOOP_POSTS_PER_HOUR": "2",  # not a secret
        "HOME": "/home/someone",
    }
    assert set(environment_secrets(env)) >= {SECRET, "ats-4444aaaa", "/services/T1/B2/abcdef123456"}
    text = "POST /services/T1/B2/abcdef123456 failed; key sk-live-0123456789abcdefghij; 2 per hour; ats-4444aaaa"
    assert scrub(text, environ=env) == f"POST {REDACTED} failed; key {REDACTED}; 2 per hour; {REDACTED}"
    assert cut("a\n  b\tc " * 3, 8) == "a b c a…"


def test_a_failed_job_stores_its_error_without_the_environment_secrets(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROWTHLOOP_LLM_API_KEY", SECRET)

    def explode(*_: object) -> object:
        raise RuntimeError(f"the server said: bad key {SECRET} (try again)")

    monkeypatch.setitem(JOBS, "plan", explode)
    outcome = JobRunner(loop.wiring).run("plan", START + timedelta(minutes=1))
    assert (
        outcome.status == "failed" and outcome.error == f"RuntimeError: the server said: bad key {REDACTED} (try again)"
    )
    with loop.store.connect() as conn:
        stored = conn.execute(select(job_runs.c.error).where(job_runs.c.job == "plan")).scalar_one()
    assert stored == outcome.error
