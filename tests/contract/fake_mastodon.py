"""A small stateful Mastodon instance at the HTTP edge, for what Prism cannot show.

`FakeMastodon` is a requests transport adapter: mounted on the adapter's session
(`platform.session.mount(FAKE_URL, fake)`), it answers every request, so Mastodon.py's own code (request
building, error classes, its parsing) runs unchanged. It behaves as Mastodon does where it matters:

- the bearer token must match (401 otherwise); a token without the write scope gets 403 on a post;
- statuses get growing integer ids; their `content` is HTML (paragraphs, <br />, linked URLs);
- the Idempotency-Key of a POST /api/v1/statuses: the same key again answers with the status it made;
- a status longer than the instance's limit (graphemes, URLs as characters_reserved_per_url) gets 422,
  a reply to an unknown status 404;
- X-RateLimit-Limit / -Remaining / -Reset (ISO 8601) on every answer, and 429 when an endpoint's budget
  (set with `limit`) is spent within its 5-minute window;
- faults queued per endpoint: a timeout before or after the request took effect, any status with any
  headers and body, a body that is not JSON.

Time comes from the clock it is given (a VirtualClock in tests).
"""

from __future__ import annotations

import html
import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from growthloop.domain import MASTODON, LengthRule
from growthloop.ports import Clock
from growthloop.text import text_length

FAKE_URL = "http://fake-mastodon.test"
WINDOW = timedelta(minutes=5)
ME = "109000000000000001"
_URL = re.compile(r"https?://\S+")
_ACCOUNT_PATH = re.compile(r"^/api/v1/accounts/(?!verify_credentials$)[^/]+")


@dataclass
class Fault:
    kind: str  # timeout_before | timeout_after | status | malformed
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class FakeStatus:
    id: str
    text: str
    account_id: str
    acct: str
    created_at: datetime
    in_reply_to_id: str | None = None
    favourites: int = 0
    reblogs: int = 0
    replies: int = 0
    quotes: int = 0


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0


def as_mastodon_shows(text: str) -> str:
    """The HTML `content` Mastodon makes of a plain-text status."""

    def paragraph(p: str) -> str:
        escaped = html.escape(p, quote=False)
        linked = _URL.sub(
            lambda m: (
                f'<a href="{m.group()}" rel="nofollow noopener" target="_blank">'
                f'<span class="invisible">{m.group()[:8]}</span><span class="">{m.group()[8:]}</span></a>'
            ),
            escaped,
        )
        return "<p>" + linked.replace("\n", "<br />") + "</p>"

    return "".join(paragraph(p) for p in text.split("\n\n"))


class FakeMastodon(BaseAdapter):
    def __init__(self, clock: Clock, token: str, max_characters: int = 500, url_weight: int = 23) -> None:
        super().__init__()
        self.clock, self.token = clock, token
        self.rule = LengthRule(MASTODON, max_characters, url_weight)
        self.write_scope = True
        self.batch = True  # GET /api/v1/statuses?id[]= exists (Mastodon 4.3+)
        self.followers = 120
        self.statuses: dict[str, FakeStatus] = {}
        self.keys: dict[str, str] = {}  # Idempotency-Key -> status id
        self.notifications: list[dict[str, Any]] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.budgets: dict[str, int] = {}
        self.spent: dict[str, list[datetime]] = {}
        self.requests: list[Recorded] = []
        self._next = 110000000000000000

    # -- set-up ----------------------------------------------------------------------------------------
    def fail_next(self, endpoint: str, *faults: Fault) -> None:
        self.faults.setdefault(endpoint, deque()).extend(faults)

    def limit(self, endpoint: str, per_window: int) -> None:
        self.budgets[endpoint] = per_window

    def add_status(self, text: str, acct: str, at: datetime, account_id: str = "42") -> FakeStatus:
        return self._new(text, account_id, acct, at, None)

    def mention(self, text: str, acct: str, at: datetime, kind: str = "mention") -> FakeStatus:
        status = self.add_status(text, acct, at)
        self.notifications.insert(0, {"id": str(len(self.notifications) + 1), "type": kind, "status": status})
        return status

    def own(self) -> list[FakeStatus]:
        return [s for s in self.statuses.values() if s.account_id == ME]

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def close(self) -> None:
        pass

    # -- the transport ---------------------------------------------------------------------------------
    def send(
        self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, *a: Any, **k: Any
    ) -> requests.Response:
        url = urlsplit(str(request.url))
        params = parse_qs(url.query, keep_blank_values=True)
        body = json.loads(request.body) if isinstance(request.body, str | bytes) and request.body else None
        rec = Recorded(str(request.method), url.path, params, body, dict(request.headers))
        self.requests.append(rec)
        endpoint = f"{request.method} {_ACCOUNT_PATH.sub('/api/v1/accounts/:id', url.path)}"
        fault = self.faults[endpoint].popleft() if self.faults.get(endpoint) else None
        if fault is not None and fault.kind == "timeout_before":
            raise requests.exceptions.ConnectTimeout("fake: connect timed out")
        if fault is not None and fault.kind == "status":
            rec.status = fault.status
            return self._response(request, fault.status, fault.headers, fault.body)
        status, payload = self._authenticate(request, write=request.method == "POST")
        if status == 0:
            if self._spend(endpoint):
                status, payload = 429, {"error": "Too many requests"}
            else:
                status, payload = self._route(endpoint, url.path, params, body, dict(request.headers))
        headers = self._limit_headers(endpoint)  # after this request was counted
        rec.status = status
        if fault is not None and fault.kind == "timeout_after":
            raise requests.exceptions.ReadTimeout("fake: read timed out")
        if fault is not None and fault.kind == "malformed":
            payload = fault.body if fault.body is not None else b"<html>502 Bad Gateway</html>"
        return self._response(request, status, headers, payload)

    def _response(
        self, request: requests.PreparedRequest, status: int, headers: dict[str, str], payload: Any
    ) -> requests.Response:
        r = requests.Response()
        r.status_code = status
        r.reason = {
            200: "OK",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            422: "Unprocessable Entity",
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }.get(status, "")
        r._content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        r.headers = CaseInsensitiveDict({"content-type": "application/json; charset=utf-8", **headers})
        r.url = str(request.url)
        r.request = request
        r.encoding = "utf-8"
        return r

    def _authenticate(self, request: requests.PreparedRequest, write: bool) -> tuple[int, Any]:
        if urlsplit(str(request.url)).path == "/api/v2/instance":
            return 0, None  # public
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "The access token is invalid"}
        if write and not self.write_scope:
            return 403, {"error": "This action is outside the authorized scopes"}
        return 0, None

    def _spend(self, endpoint: str) -> bool:
        budget = self.budgets.get(endpoint)
        if budget is None:
            return False
        now = self.clock.now()
        used = [t for t in self.spent.get(endpoint, []) if t > now - WINDOW]
        if len(used) >= budget:
            self.spent[endpoint] = used
            return True
        self.spent[endpoint] = [*used, now]
        return False

    def _limit_headers(self, endpoint: str) -> dict[str, str]:
        budget = self.budgets.get(endpoint, 300)
        now = self.clock.now()
        used = [t for t in self.spent.get(endpoint, []) if t > now - WINDOW]
        reset = (min(used) + WINDOW) if used else now + WINDOW
        return {
            "X-RateLimit-Limit": str(budget),
            "X-RateLimit-Remaining": str(max(budget - len(used), 0)),
            "X-RateLimit-Reset": reset.isoformat().replace("+00:00", "Z"),
        }

    # -- the API ---------------------------------------------------------------------------------------
    def _route(
        self, endpoint: str, path: str, params: dict[str, list[str]], body: Any, headers: dict[str, str]
    ) -> tuple[int, Any]:
        if endpoint == "GET /api/v2/instance":
            return 200, {
                "domain": "fake-mastodon.test",
                "configuration": {
                    "statuses": {
                        "max_characters": self.rule.limit,
                        "characters_reserved_per_url": self.rule.url_weight,
                        "max_media_attachments": 4,
                    }
                },
            }
        if endpoint == "GET /api/v1/accounts/verify_credentials":
            return 200, {"id": ME, "username": "growthloop", "acct": "growthloop", "followers_count": self.followers}
        if endpoint == "POST /api/v1/statuses":
            return self._create(body or {}, headers.get("Idempotency-Key"))
        if endpoint == "GET /api/v1/statuses" and self.batch:
            wanted = params.get("id[]", [])
            return 200, [self._show(self.statuses[i]) for i in wanted if i in self.statuses]
        if endpoint.startswith("GET /api/v1/statuses/") and path.split("/")[-1] in self.statuses:
            return 200, self._show(self.statuses[path.split("/")[-1]])
        if endpoint == "GET /api/v1/accounts/:id/statuses":
            mine = sorted(
                (s for s in self.statuses.values() if s.account_id == path.split("/")[4]),
                key=lambda s: int(s.id),
                reverse=True,
            )
            max_id = params.get("max_id", [None])[0]
            if max_id:
                mine = [s for s in mine if int(s.id) < int(max_id)]
            return 200, [self._show(s) for s in mine[: int(params.get("limit", ["20"])[0])]]
        if endpoint == "GET /api/v1/notifications":
            types = set(params.get("types[]", []))
            notes = [n for n in self.notifications if not types or n["type"] in types]
            return 200, [
                {
                    **n,
                    "created_at": _iso(n["status"].created_at),
                    "account": self._account(n["status"]),
                    "status": self._show(n["status"]),
                }
                for n in notes
            ]
        if endpoint == "GET /api/v2/search":
            q = params.get("q", [""])[0].lower()
            found = [s for s in self.statuses.values() if any(w in s.text.lower() for w in q.split())]
            return 200, {"accounts": [], "hashtags": [], "statuses": [self._show(s) for s in found]}
        return 404, {"error": "Record not found"}

    def _create(self, body: dict[str, Any], key: str | None) -> tuple[int, Any]:
        if key is not None and key in self.keys:
            return 200, self._show(self.statuses[self.keys[key]])
        text = str(body.get("status", ""))
        if not text.strip():
            return 422, {"error": "Validation failed: Text can't be blank"}
        if text_length(text, self.rule) > self.rule.limit:
            return 422, {"error": f"Validation failed: Text character limit of {self.rule.limit} exceeded"}
        parent = body.get("in_reply_to_id")
        if parent is not None and parent not in self.statuses:
            return 404, {"error": "Record not found"}
        status = self._new(text, ME, "growthloop", self.clock.now(), parent)
        if key is not None:
            self.keys[key] = status.id
        return 200, self._show(status)

    def _new(self, text: str, account_id: str, acct: str, at: datetime, parent: str | None) -> FakeStatus:
        self._next += 1
        status = FakeStatus(str(self._next), text, account_id, acct, at, parent)
        self.statuses[status.id] = status
        if parent in self.statuses:
            self.statuses[parent].replies += 1
        return status

    def _account(self, s: FakeStatus) -> dict[str, Any]:
        return {"id": s.account_id, "username": s.acct.split("@")[0], "acct": s.acct, "followers_count": 7}

    def _show(self, s: FakeStatus) -> dict[str, Any]:
        return {
            "id": s.id,
            "created_at": _iso(s.created_at),
            "in_reply_to_id": s.in_reply_to_id,
            "content": as_mastodon_shows(s.text),
            "account": self._account(s),
            "reblog": None,
            "favourites_count": s.favourites,
            "reblogs_count": s.reblogs,
            "replies_count": s.replies,
            "quotes_count": s.quotes,
        }


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
