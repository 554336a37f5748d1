"""AlertNotifier against a real local HTTP server: one alert per failure, one per recovery, retries."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from growthloop.adapters.store.store import SqlStore
from growthloop.audit.alerts import STATE_KEY, AlertNotifier
from growthloop.audit.doctor import FAIL, PASS, WARN, Check, run_doctor

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
TOKEN = "T0SECRET/B0SECRET/xoxSuperSecretToken42"


class Hook:
    """A webhook receiver: records every JSON body; `status` is what it answers."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = 200
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if hook.delay:
                    time.sleep(hook.delay)
                hook.paths.append(self.path)
                if hook.status == 200:
                    hook.bodies.append(json.loads(raw))
                self.send_response(hook.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if hook.status == 200 else b"error")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def check(name: str, state: str, measured: str = "3 things measured") -> Check:
    failing = state == FAIL
    return Check(
        name,
        state,
        measured,
        "nothing wrong",
        "the widget is broken" if failing else None,
        "growthloop jobs run widget" if failing else None,
    )


def test_a_check_failing_three_times_alerts_once_and_recovers_once(store: SqlStore, hook: Hook) -> None:
    n = AlertNotifier(store, "default", hook.url)
    ok = [check("job.widget", PASS), check("other", PASS)]
    assert n.notify(ok, NOW) == []
    failing = [check("job.widget", FAIL), check("other", PASS)]
    sent = [n.notify(failing, NOW + timedelta(minutes=i)) for i in range(3)]
    assert [len(s) for s in sent] == [1, 0, 0]
    assert len(hook.bodies) == 1
    assert hook.bodies[0]["check"] == "job.widget"
    assert hook.bodies[0]["state"] == FAIL
    assert hook.paths == [f"/services/{TOKEN}"]

    recovered = n.notify(ok, NOW + timedelta(hours=1))
    assert len(recovered) == 1
    assert n.notify(ok, NOW + timedelta(hours=2)) == []
    assert len(hook.bodies) == 2
    body = hook.bodies[1]
    assert body["state"] == PASS and body["previous"] == FAIL
    assert body["text"].startswith("[growthloop] account default: recovered job.widget (measured: ")

    again = n.notify(failing, NOW + timedelta(hours=3))
    assert [p["check"] for p in again] == ["job.widget"]
    assert len(hook.bodies) == 3 and hook.bodies[2]["previous"] == PASS


def test_first_call_treats_every_check_as_previously_passing(store: SqlStore, hook: Hook) -> None:
    n = AlertNotifier(store, "default", hook.url)
    sent = n.notify([check("a", FAIL), check("b", PASS), check("c", WARN)], NOW)
    assert [p["check"] for p in sent] == ["a"]
    assert sent[0]["previous"] == PASS
    assert n.remembered() == {"a": FAIL, "b": PASS, "c": WARN}


def test_payload_carries_text_and_the_check_fields(store: SqlStore, hook: Hook) -> None:
    n = AlertNotifier(store, "default", hook.url)
    failing = Check(
        "job.attribute",
        FAIL,
        "enabled False, every 2 h 0 min",
        "enabled, a successful run every 2 h 0 min",
        "the attribute job is not scheduled:\nnothing runs it",
        "enable it: [jobs.attribute] enabled = true",
    )
    sent = n.notify([failing], NOW)
    assert sent == hook.bodies
    body = hook.bodies[0]
    assert body["text"] == (
        "[growthloop] account default: FAILING job.attribute — the attribute job is not scheduled: nothing runs it "
        "(measured: enabled False, every 2 h 0 min; fix: enable it: [jobs.attribute] enabled = true)"
    )
    assert "\n" not in body["text"]
    assert {k: body[k] for k in ("account", "check", "state", "previous", "measured", "expected", "cause", "fix")} == {
        "account": "default",
        "check": "job.attribute",
        "state": FAIL,
        "previous": PASS,
        "measured": failing.measured,
        "expected": failing.expected,
        "cause": failing.cause,
        "fix": failing.fix,
    }
    assert datetime.fromisoformat(body["at"]) == NOW


def test_states_survive_a_restart(store: SqlStore, hook: Hook) -> None:
    AlertNotifier(store, "default", hook.url).notify([check("x", FAIL)], NOW)
    assert len(hook.bodies) == 1
    # A new process (a new notifier, a new engine) on the same database remembers the failure.
    again = SqlStore(store.url)
    try:
        restarted = AlertNotifier(again, "default", hook.url)
        assert restarted.notify([check("x", FAIL)], NOW + timedelta(hours=1)) == []
        assert len(hook.bodies) == 1
        assert len(restarted.notify([check("x", PASS)], NOW + timedelta(hours=2))) == 1
    finally:
        again.dispose()
    with store.connect() as conn:
        assert store.get_state(conn, "default", STATE_KEY) == {"x": PASS}


def test_states_are_kept_per_account(store: SqlStore, hook: Hook) -> None:
    AlertNotifier(store, "a", hook.url).notify([check("x", FAIL)], NOW)
    sent = AlertNotifier(store, "b", hook.url).notify([check("x", FAIL)], NOW)
    assert len(sent) == 1 and sent[0]["account"] == "b"
    assert [b["account"] for b in hook.bodies] == ["a", "b"]


def _logged(logs: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps(logs, default=str)


def test_a_500_answer_is_logged_without_the_token_and_retried(store: SqlStore, hook: Hook) -> None:
    n = AlertNotifier(store, "default", hook.url)
    hook.status = 500
    with capture_logs() as logs:
        assert n.notify([check("x", FAIL)], NOW) == []
    assert len(hook.paths) == 1  # it was attempted
    failures = [e for e in logs if e["event"] == "alert_not_delivered"]
    assert len(failures) == 1
    assert failures[0]["check"] == "x" and failures[0]["log_level"] == "warning"
    assert failures[0]["host"] == f"127.0.0.1:{hook.server.server_port}"
    assert "500" in failures[0]["error"]
    assert "services" not in _logged(logs) and "Secret" not in _logged(logs) and TOKEN not in _logged(logs)
    assert n.remembered() == {}  # not advanced

    hook.status = 200
    retried = n.notify([check("x", FAIL)], NOW + timedelta(minutes=15))
    assert [p["check"] for p in retried] == ["x"]
    assert len(hook.bodies) == 1
    assert n.notify([check("x", FAIL)], NOW + timedelta(minutes=30)) == []
    assert len(hook.bodies) == 1


def test_an_undelivered_recovery_is_retried(store: SqlStore, hook: Hook) -> None:
    n = AlertNotifier(store, "default", hook.url)
    n.notify([check("x", FAIL)], NOW)
    hook.status = 503
    assert n.notify([check("x", PASS)], NOW + timedelta(minutes=15)) == []
    assert n.remembered() == {"x": FAIL}
    hook.status = 200
    sent = n.notify([check("x", PASS)], NOW + timedelta(minutes=30))
    assert [p["state"] for p in sent] == [PASS]
    assert [b["state"] for b in hook.bodies] == [FAIL, PASS]


def test_an_unreachable_webhook_is_logged_without_the_token_and_retried(store: SqlStore) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/{TOKEN}?token=abc{TOKEN}"
    n = AlertNotifier(store, "default", url, timeout=2.0)
    with capture_logs() as logs:
        assert n.notify([check("x", FAIL), check("y", PASS)], NOW) == []
        assert n.notify([check("x", FAIL), check("y", PASS)], NOW + timedelta(minutes=15)) == []
    failures = [e for e in logs if e["event"] == "alert_not_delivered"]
    assert len(failures) == 2  # attempted again at the second call
    assert all(f["host"] == f"127.0.0.1:{port}" for f in failures)
    assert TOKEN not in _logged(logs) and "services" not in _logged(logs)
    assert n.remembered() == {"y": PASS}


def test_a_slow_webhook_times_out_and_is_retried(store: SqlStore, hook: Hook) -> None:
    hook.delay = 1.0
    n = AlertNotifier(store, "default", hook.url, timeout=0.2)
    with capture_logs() as logs:
        assert n.notify([check("x", FAIL)], NOW) == []
    failures = [e for e in logs if e["event"] == "alert_not_delivered"]
    assert len(failures) == 1 and "timed out" in failures[0]["error"]
    hook.delay = 0.0
    assert len(n.notify([check("x", FAIL)], NOW + timedelta(minutes=15))) == 1


def test_a_failing_custom_sender_is_not_fatal_and_its_message_is_scrubbed(store: SqlStore) -> None:
    url = f"https://hooks.example.com/services/{TOKEN}"
    calls: list[str] = []

    def send(u: str, payload: dict[str, Any]) -> None:
        calls.append(u)
        raise RuntimeError(f"could not POST to {u}")

    n = AlertNotifier(store, "default", url, send=send)
    with capture_logs() as logs:
        assert n.notify([check("x", FAIL)], NOW) == []
    assert calls == [url]
    assert [e["host"] for e in logs if e["event"] == "alert_not_delivered"] == ["hooks.example.com"]
    assert "[redacted]" in logs[0]["error"]
    assert logs[0]["host"] == "hooks.example.com"
    assert TOKEN not in _logged(logs)


def test_without_a_url_states_are_recorded_and_payloads_returned(store: SqlStore) -> None:
    n = AlertNotifier(store, "default", None, send=lambda u, p: pytest.fail("nothing may be sent"))
    sent = n.notify([check("x", FAIL)], NOW)
    assert [p["check"] for p in sent] == ["x"]
    assert n.notify([check("x", FAIL)], NOW) == []
    assert n.remembered() == {"x": FAIL}


def test_a_webhook_url_must_be_http() -> None:
    with pytest.raises(ValueError) as err:
        AlertNotifier(None, "default", f"file:///etc/{TOKEN}")  # type: ignore[arg-type]
    assert TOKEN not in str(err.value)


def test_disabling_the_attribute_job_alerts_once_end_to_end(loop: Any, hook: Hook) -> None:
    loop.run_for(3)
    n = AlertNotifier(loop.store, "default", hook.url)
    with loop.store.begin() as conn:
        conn.execute(text("UPDATE job_schedule SET enabled = false WHERE job = 'attribute'"))
    checks = run_doctor(loop.store, loop.settings, "default", loop.clock.now())
    sent = n.notify(checks, loop.clock.now())
    assert [p["check"] for p in sent] == ["job.attribute"]
    assert len(hook.bodies) == 1
    assert "FAILING job.attribute" in hook.bodies[0]["text"]
    assert "not scheduled" in hook.bodies[0]["cause"]

    checks = run_doctor(loop.store, loop.settings, "default", loop.clock.now())
    assert n.notify(checks, loop.clock.now()) == []
    assert len(hook.bodies) == 1
