"""Secrets are scrubbed before anything is cut: a server that quotes a token back, right where the X edge
cuts its message to 200 characters, leaks no part of it into doctor's output, the JSON log, job_runs.error
or the alert body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from growthloop.adapters.store.tables import job_runs
from growthloop.audit.alerts import AlertNotifier
from growthloop.audit.doctor import FAIL, run_doctor
from growthloop.jobs.runner import JobRunner
from growthloop.logging import configure_logging
from tests.conftest import START, Loop
from tests.contract.fake_x import FakeX, Fault
from tests.contract.test_x_behaviour import OAUTH1, connect, oauth1_credentials

SECRET = OAUTH1["access_token"] + "-and-more-of-it-9f8e7d6c"  # long, so that the cut falls inside it
WEBHOOK = "https://hooks.example.com/services/T0000/B0000/whsecret0123456789abcdef"


def leaked(text: str, secret: str = SECRET) -> list[str]:
    """Every piece of 8 characters or more of `secret` found in `text`."""
    return [secret[i:j] for i in range(len(secret)) for j in range(i + 8, len(secret) + 1) if secret[i:j] in text]


@pytest.mark.parametrize("before", [180, 190, 195, 197])
def test_a_token_cut_in_two_by_the_edge_leaks_nowhere(
    loop: Loop, store: Any, settings: Any, capsys: pytest.CaptureFixture[str], before: int
) -> None:
    assert not leaked("x" * 300) and leaked(f"..{SECRET[3:12]}..")  # the detector sees a piece of 9
    credentials = oauth1_credentials(access_token=SECRET)
    fake = FakeX(loop.clock, oauth1=OAUTH1 | {"access_token": SECRET})
    loop.wiring.platform = connect(fake, loop.clock, credentials)
    detail = "w" * before + f"token {SECRET} was not accepted " + "z" * 100  # 200 falls inside the token
    fake.fail_next("POST /2/tweets", Fault("status", 401, {}, {"title": "Unauthorized", "detail": detail}))
    loop.run("plan")

    configure_logging(json_output=True)
    try:
        capsys.readouterr()
        outcome = JobRunner(loop.wiring).run("post", START)
        log = capsys.readouterr().err
    finally:
        configure_logging(quiet=True)
    assert outcome.status == "failed" and "401" in (outcome.error or "")
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "job.failed" for e in events)

    with store.connect() as conn:
        stored = conn.execute(select(job_runs.c.error).where(job_runs.c.job == "post")).scalars().all()
    checks = run_doctor(store, settings, settings.account, START)
    post = next(c for c in checks if c.name == "job.post")
    assert post.state == FAIL and "401" in (post.cause or "")
    doctor = json.dumps([c.as_dict() for c in checks])

    sent: list[dict[str, Any]] = []
    AlertNotifier(store, settings.account, WEBHOOK, send=lambda url, body: sent.append(body)).notify(checks, START)
    alert = json.dumps(sent)
    assert "job.post" in alert

    for where, text in (("doctor", doctor), ("log", log), ("job_runs.error", "".join(stored)), ("alert", alert)):
        assert leaked(text) == [], where
        assert leaked(text, WEBHOOK.rsplit("/", 1)[1]) == [], where
