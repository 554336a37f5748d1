"""Alerts on doctor's checks: a webhook message when a check turns failing, and one when it recovers.

`AlertNotifier.notify` compares each check's state with the state remembered from the previous call
(app_state key ``alert_states`` of the account, ``{check name: state}``), so a check that stays failing
is reported once, not at every run, and the memory survives restarts and is shared by every process
that uses the same database.

The webhook URL usually carries a secret token in its path: it is never logged nor put in an error
message; logs name only the host. Every message is scrubbed of it (and of the environment's other secrets)
before it is cut (growthloop.redact).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy import Connection, select

from growthloop import redact
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import app_state
from growthloop.audit.doctor import FAIL, PASS, Check

STATE_KEY = "alert_states"
MAX_TEXT = 1500  # characters of the one-line "text"; a long error message in a cause is cut

log = structlog.get_logger("growthloop.alerts")

Sender = Callable[[str, dict[str, Any]], None]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be replayed as a GET without its body: treat it as a failed delivery."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post_json(url: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
    """POST `payload` as JSON to `url` (stdlib urllib). Raises on a network error or a non-2xx answer."""
    body = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "growthloop-alerts"},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(request, timeout=timeout) as response:
        response.read()
        status = getattr(response, "status", 200)
        if not 200 <= status < 300:
            raise urllib.error.HTTPError(url, status, f"unexpected status {status}", response.headers, None)


def safe_host(url: str) -> str:
    """The host (and explicit port) of a URL: what may be logged about a webhook."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


class AlertNotifier:
    """Sends one alert when a doctor check turns failing and one when it recovers.

    A failed delivery (network error, timeout, non-2xx answer, or an exception from a custom `send`)
    is not fatal: it is logged on the ``growthloop.alerts`` logger (host only, never the URL's path or
    token) and the remembered state of that check is NOT advanced, so the same alert is sent again at
    the next `notify` call, until it is delivered or the check's state changes back.

    With `webhook_url` None nothing is sent: states are still recorded and `notify` returns the
    payloads that would have been sent.

    `send(url, payload)` replaces the default sender (a JSON POST with urllib, with `timeout`).
    """

    def __init__(
        self,
        store: SqlStore,
        account: str,
        webhook_url: str | None,
        send: Sender | None = None,
        timeout: float = 10.0,
    ) -> None:
        if webhook_url is not None and urlsplit(webhook_url).scheme not in ("http", "https"):
            raise ValueError("the alert webhook URL must start with http:// or https://")
        self.store = store
        self.account = account
        self.webhook_url = webhook_url
        self.timeout = timeout
        self._send: Sender = send if send is not None else self._post

    def _post(self, url: str, payload: dict[str, Any]) -> None:
        post_json(url, payload, timeout=self.timeout)

    # -- remembered states ----------------------------------------------------------------------------
    def _load(self, conn: Connection) -> dict[str, str]:
        # FOR UPDATE on PostgreSQL (SQLite renders nothing): concurrent notifiers take turns.
        row = conn.execute(
            select(app_state.c.value)
            .where(app_state.c.account == self.account, app_state.c.key == STATE_KEY)
            .with_for_update()
        ).first()
        value = row[0] if row is not None else None
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def remembered(self) -> dict[str, str]:
        """The states remembered from the previous call: {check name: state}."""
        with self.store.begin() as conn:
            return self._load(conn)

    # -- the comparison ---------------------------------------------------------------------------------
    def notify(self, checks: list[Check], now: datetime) -> list[dict[str, Any]]:
        """Alert on the checks that turned failing or recovered since the previous call.

        Returns the payloads delivered (or, without a webhook URL, the ones that would have been sent).
        A check absent from a previous call counts as previously passing. Delivery failures are logged
        and retried at the next call (the check's remembered state stays where it was).
        """
        # Claim first (record the new states), send after, and put back the state of an alert that
        # could not be delivered: no network call runs inside a database transaction, and two
        # processes notifying at once do not both send the same alert.
        with self.store.begin() as conn:
            before = self._load(conn)
            after = dict(before)
            events: list[tuple[Check, str, bool]] = []  # (check, previous state, was it remembered)
            for check in checks:
                known = check.name in before
                previous = before.get(check.name, PASS)
                after[check.name] = check.state
                if (previous != FAIL and check.state == FAIL) or (previous == FAIL and check.state != FAIL):
                    events.append((check, previous, known))
            if after != before:
                self.store.set_state(conn, self.account, STATE_KEY, after)

        payloads = [(self.payload(check, previous, now), check, previous, known) for check, previous, known in events]
        if self.webhook_url is None:
            return [p for p, *_ in payloads]

        delivered: list[dict[str, Any]] = []
        undelivered: list[tuple[Check, str, bool]] = []
        for payload, check, previous, known in payloads:
            try:
                self._send(self.webhook_url, payload)
            except Exception as exc:  # noqa: BLE001 - any failure is logged and retried, never fatal
                log.warning(
                    "alert_not_delivered",
                    account=self.account,
                    check=check.name,
                    state=check.state,
                    host=safe_host(self.webhook_url),
                    error=self._describe(exc),
                    retry="at the next notify",
                )
                undelivered.append((check, previous, known))
            else:
                log.info("alert_delivered", account=self.account, check=check.name, state=check.state)
                delivered.append(payload)
        if undelivered:
            self._put_back(undelivered)
        return delivered

    def _put_back(self, undelivered: list[tuple[Check, str, bool]]) -> None:
        """Restore the remembered state of checks whose alert was not delivered (unless changed since)."""
        with self.store.begin() as conn:
            states = self._load(conn)
            for check, previous, known in undelivered:
                if states.get(check.name) != check.state:
                    continue  # another notifier recorded a newer state in the meantime
                if known:
                    states[check.name] = previous
                else:
                    states.pop(check.name, None)
            self.store.set_state(conn, self.account, STATE_KEY, states)

    def _describe(self, exc: BaseException) -> str:
        """The error's type and message with the webhook URL (and its path, query and password) blanked out."""
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, urllib.error.HTTPError):
            text = f"HTTPError: HTTP {exc.code} {exc.reason}"
        return self._safe(text, 300)

    def _scrub(self, text: str) -> str:
        """`text` without the webhook URL (its path, query, password) or any other secret in the environment."""
        return redact.scrub(text, [self.webhook_url] if self.webhook_url else [])

    def _safe(self, text: str, limit: int) -> str:
        """Scrubbed, then cut to one line: never the other way round, or a cut secret would survive."""
        return redact.cut(self._scrub(text), limit)

    # -- the message ------------------------------------------------------------------------------------
    def payload(self, check: Check, previous: str, now: datetime) -> dict[str, Any]:
        """A Slack-compatible message ("text") with the machine-readable fields of the check."""
        prefix = f"[growthloop] account {self.account}:"
        if check.state == FAIL:
            event = "failing"
            text = f"{prefix} FAILING {check.name}"
            if check.cause:
                text += f" — {check.cause}"
            details = f"measured: {check.measured}"
            if check.fix:
                details += f"; fix: {check.fix}"
            text += f" ({details})"
        else:
            event = "recovered"
            text = f"{prefix} recovered {check.name} (measured: {check.measured}; now {check.state})"
        return {
            "text": self._safe(text, MAX_TEXT),
            "event": event,
            "account": self.account,
            "check": check.name,
            "state": check.state,
            "previous": previous,
            "measured": self._scrub(check.measured),
            "expected": check.expected,
            "cause": check.cause and self._scrub(check.cause),
            "fix": check.fix,
            "at": now.isoformat(),
        }


__all__ = ["STATE_KEY", "AlertNotifier", "post_json", "safe_host"]
