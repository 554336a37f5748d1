"""A small stateful X API v2 at the HTTP edge, for what Prism cannot show.

`FakeX` is a requests transport adapter: mounted on the SDK's session (`platform.session.mount(FAKE_URL,
fake)`), it answers every request the adapter makes, so xdk's own code (request building, OAuth 1.0a
signing, `raise_for_status`, its models) runs unchanged. It behaves as X does where it matters to
growthloop:

- authentication: a bearer token must match; an OAuth 1.0a header must carry the right keys and a valid
  HMAC-SHA1 signature, checked with oauthlib (an implementation independent of the SDK's);
- posts get snowflake ids from the clock; text comes back HTML-escaped with links replaced by t.co links;
- duplicate content is refused (403), and so is a reply where the account was not summoned (403);
- rate limits per endpoint and 15-minute window, with x-rate-limit-* headers and 429 when spent;
- non-public metrics only for the account's own posts younger than 30 days, and only if granted;
- the old field names (`retweet_count`, `tweet_count`) on request;
- faults queued per endpoint: a timeout before or after the request took effect, a connection reset,
  any status with any headers, a body that is not JSON;
- prepaid credits (`credits`, None: unlimited), spent at X's published prices as X bills them (writes per
  request, reads per resource returned, a resource charged once per UTC day, failed requests free); a
  balance may go slightly negative, after which every request is refused with 402 and a CreditsDepleted
  problem (X's pricing page: "API requests will be blocked until you add credits");
- GET /2/usage/tweets (app-only Bearer Token `app_bearer`): the project's daily Post consumption.

Time comes from the clock it is given (a VirtualClock in tests).
"""

from __future__ import annotations

import hmac
import html
import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from oauthlib.oauth1.rfc5849 import signature as oauth1_signature
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from twitter_text import extract_urls_with_indices

from growthloop.ports import Clock

FAKE_URL = "http://fake-x.test"
TWITTER_EPOCH_MS = 1288834974657
WINDOW = timedelta(minutes=15)

# X's own wording for the refusals the adapter has to tell apart.
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
UNSUMMONED_DETAIL = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by "
    "the author of the post you are replying to."
)
CREDITS_TITLE = "CreditsDepleted"
CREDITS_DETAIL = "Your enrolled account [{account}] does not have any credits to fulfill this request."
# X's prices (pricing page, 2026): writes per request, reads per resource; owned reads for the account's own
# timeline and mentions.
PRICE_CREATE, PRICE_CREATE_URL, PRICE_SUMMONED = 0.015, 0.200, 0.010
PRICE_POST_READ, PRICE_USER_READ, PRICE_OWNED_READ = 0.005, 0.010, 0.001
READ_ONLY_DETAIL = "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint."


def snowflake(at: datetime, seq: int) -> str:
    ms = int(at.timestamp() * 1000) - TWITTER_EPOCH_MS
    return str((ms << 22) | (seq & 0xFFF))


def as_x_shows(text: str) -> str:
    """What X's API returns for a text we sent: links replaced by t.co links, then HTML-escaped."""
    for i, url in enumerate(sorted({u["url"] for u in extract_urls_with_indices(text)}, key=len, reverse=True)):
        text = text.replace(url, f"https://t.co/Ab{i:08d}")
    return html.escape(text, quote=False)


@dataclass
class Fault:
    kind: str  # timeout_before | timeout_after | reset_after | status | malformed
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class FakePost:
    id: str
    text: str  # as sent
    author_id: str
    created_at: datetime
    conversation_id: str
    in_reply_to: str | None = None
    public: dict[str, int] = field(default_factory=dict)
    private: dict[str, int] = field(default_factory=dict)


@dataclass
class User:
    id: str
    username: str
    followers: int = 10


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    at: datetime
    status: int | None = None
    auth_scheme: str = ""


@dataclass
class Budget:
    limit: int
    used: int = 0
    window_start: datetime | None = None


class FakeX(BaseAdapter):
    def __init__(
        self,
        clock: Clock,
        *,
        bearer: str | None = None,
        oauth1: dict[str, str] | None = None,
        user_id: str = "1500000000000000001",
        username: str = "growthloop_acct",
        followers: int = 30,
        old_names: bool = False,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.bearer, self.oauth1 = bearer, oauth1
        self.me = User(user_id, username, followers)
        self.old_names = old_names
        self.read_only = False  # OAuth 1.0a token without write permission
        self.private_metrics = True  # does X grant non-public metrics to this app?
        self.search_allowed = True  # does the app's access level include recent search?
        self.users: dict[str, User] = {self.me.id: self.me}
        self.posts: dict[str, FakePost] = {}
        self.summoned: set[str] = set()  # others' posts where a reply from us is allowed
        self.faults: dict[str, deque[Fault]] = {}
        self.budgets: dict[str, Budget] = {}
        self.requests: list[Recorded] = []
        self._seq = 0
        self.credits: float | None = None  # prepaid USD; None: unlimited
        self.app_bearer: str | None = None  # the app-only Bearer Token GET /2/usage/tweets needs
        self.billed: dict[str, set[str]] = {}  # UTC day -> resources charged that day
        self.post_reads: dict[str, int] = {}  # UTC day -> posts billed (what the usage endpoint counts)
        self.spent = 0.0

    # -- set-up ----------------------------------------------------------------------------------------
    def fail_next(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for "POST /2/tweets", "GET /2/tweets", "GET /2/users/me", ... (path templates)."""
        self.faults.setdefault(endpoint, deque()).extend(faults)

    def limit(self, endpoint: str, per_window: int) -> None:
        self.budgets[endpoint] = Budget(per_window)

    def add_user(self, user_id: str, username: str, followers: int = 100) -> User:
        self.users[user_id] = User(user_id, username, followers)
        return self.users[user_id]

    def add_post(self, author: User, text: str, at: datetime | None = None, summoned: bool = False) -> FakePost:
        post = self._new_post(author.id, text, at or self.clock.now(), None)
        if summoned:
            self.summoned.add(post.id)
        return post

    def own_posts(self) -> list[FakePost]:
        return sorted((p for p in self.posts.values() if p.author_id == self.me.id), key=lambda p: int(p.id))

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- the transport ---------------------------------------------------------------------------------
    def close(self) -> None:
        pass

    def send(
        self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, *a: Any, **k: Any
    ) -> requests.Response:
        url = urlsplit(str(request.url))
        params = parse_qs(url.query, keep_blank_values=True)
        body = json.loads(request.body) if isinstance(request.body, str | bytes) and request.body else None
        method = str(request.method)
        rec = Recorded(method, url.path, params, body, self.clock.now())
        self.requests.append(rec)
        endpoint = f"{method} {_template(url.path)}"
        status, headers, payload, after = self._handle(endpoint, request, url.path, params, body)
        rec.status = status
        rec.auth_scheme = str(request.headers.get("Authorization", "")).split(" ", 1)[0]
        if after is not None:
            raise after
        return self._response(request, status, headers, payload)

    def _handle(
        self, endpoint: str, request: requests.PreparedRequest, path: str, params: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, str], Any, Exception | None]:
        fault = self.faults.get(endpoint, deque()).popleft() if self.faults.get(endpoint) else None
        if fault is not None and fault.kind == "timeout_before":
            raise requests.exceptions.ConnectTimeout("fake: connect timed out")
        if fault is not None and fault.kind == "status":
            return fault.status, fault.headers, fault.body, None
        if endpoint == "GET /2/usage/tweets":
            return (*self._usage(request, params), None)
        refused = self._authenticate(request, write=request.method == "POST")
        if refused is not None:
            return refused[0], {}, refused[1], None
        if self.credits is not None and self.credits <= 0:
            return 402, {}, self._credits_depleted(), None
        spent = self._spend(endpoint)
        limit_headers = self._limit_headers(endpoint)
        if spent:
            return 429, limit_headers, _problem(429, "Too Many Requests", "Too Many Requests"), None
        status, payload = self._route(endpoint, path, params, body)
        if status < 400:
            self._bill(endpoint, body, payload)
        if fault is not None and fault.kind == "timeout_after":
            return status, limit_headers, payload, requests.exceptions.ReadTimeout("fake: read timed out")
        if fault is not None and fault.kind == "reset_after":
            return status, limit_headers, payload, requests.exceptions.ConnectionError("fake: connection reset by peer")
        if fault is not None and fault.kind == "malformed":
            return status, limit_headers, fault.body if fault.body is not None else b"<html>upstream error", None
        return status, limit_headers, payload, None

    def _response(
        self, request: requests.PreparedRequest, status: int, headers: dict[str, str], payload: Any
    ) -> requests.Response:
        r = requests.Response()
        r.status_code = status
        r.reason = {
            200: "OK",
            201: "Created",
            400: "Bad Request",
            401: "Unauthorized",
            402: "Payment Required",
            403: "Forbidden",
            404: "Not Found",
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

    # -- authentication --------------------------------------------------------------------------------
    def _authenticate(self, request: requests.PreparedRequest, write: bool) -> tuple[int, Any] | None:
        header = str(request.headers.get("Authorization", ""))
        unauthorized = (401, _problem(401, "Unauthorized", "Unauthorized"))
        if header.startswith("Bearer "):
            return None if self.bearer is not None and header == f"Bearer {self.bearer}" else unauthorized
        if header.startswith("OAuth ") and self.oauth1 is not None:
            if not self._oauth1_valid(request, header):
                return unauthorized
            if write and self.read_only:
                return 403, {
                    "title": "Forbidden",
                    "detail": READ_ONLY_DETAIL,
                    "type": "https://api.twitter.com/2/problems/oauth1-permissions",
                    "status": 403,
                }
            return None
        return unauthorized

    def _oauth1_valid(self, request: requests.PreparedRequest, header: str) -> bool:
        assert self.oauth1 is not None
        given = {k: unescape(v) for k, v in parse_authorization_header(header)}  # values are percent-encoded
        if given.get("oauth_consumer_key") != self.oauth1["api_key"]:
            return False
        if given.get("oauth_token") != self.oauth1["access_token"]:
            return False
        if given.get("oauth_signature_method") != "HMAC-SHA1":
            return False
        url = urlsplit(str(request.url))
        params = oauth1_signature.collect_parameters(
            uri_query=url.query, headers={"Authorization": header}, exclude_oauth_signature=True
        )
        base = oauth1_signature.signature_base_string(
            str(request.method),
            oauth1_signature.base_string_uri(f"{url.scheme}://{url.netloc}{url.path}"),
            oauth1_signature.normalize_parameters(params),
        )
        client = SimpleNamespace(
            client_secret=self.oauth1["api_secret"], resource_owner_secret=self.oauth1["access_token_secret"]
        )
        expected = oauth1_signature.sign_hmac_sha1_with_client(base, client)
        return hmac.compare_digest(expected, given.get("oauth_signature", ""))

    # -- credits ---------------------------------------------------------------------------------------
    def _credits_depleted(self) -> dict[str, Any]:
        return {
            "title": CREDITS_TITLE,
            "detail": CREDITS_DETAIL.format(account=self.me.id),
            "type": "https://api.twitter.com/2/problems/credits",
        }

    def _bill(self, endpoint: str, sent: Any, payload: Any) -> None:
        """Charge a successful call as X does; the balance may go below 0 by this call's price."""
        day = self.clock.now().astimezone(UTC).strftime("%Y-%m-%d")
        if endpoint == "POST /2/tweets":
            text = sent.get("text", "") if isinstance(sent, dict) else ""
            target = ((sent or {}).get("reply") or {}).get("in_reply_to_tweet_id")
            parent = self.posts.get(target) if target else None
            if extract_urls_with_indices(text):
                cost = PRICE_CREATE_URL
            elif parent is not None and parent.author_id != self.me.id:
                cost = PRICE_SUMMONED
            else:
                cost = PRICE_CREATE
        else:
            seen = self.billed.setdefault(day, set())
            owned = endpoint in ("GET /2/users/:id/tweets", "GET /2/users/:id/mentions")
            data = payload.get("data") if isinstance(payload, dict) else None
            items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
            users = (payload.get("includes") or {}).get("users", []) if isinstance(payload, dict) else []
            cost = 0.0
            for item in items:
                kind = "user" if endpoint == "GET /2/users/me" else "post"
                key = f"{kind}:{item.get('id')}"
                if key in seen:
                    continue
                seen.add(key)
                if kind == "user":
                    cost += PRICE_USER_READ
                else:
                    cost += PRICE_OWNED_READ if owned else PRICE_POST_READ
                    self.post_reads[day] = self.post_reads.get(day, 0) + 1
            for user in users:
                key = f"user:{user.get('id')}"
                if key not in seen:
                    seen.add(key)
                    cost += PRICE_USER_READ
        self.spent += cost
        if self.credits is not None:
            self.credits -= cost

    def _usage(
        self, request: requests.PreparedRequest, params: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], Any]:
        if self.app_bearer is None or request.headers.get("Authorization") != f"Bearer {self.app_bearer}":
            return 401, {}, _problem(401, "Unauthorized", "Unauthorized")
        days = int(params.get("days", ["7"])[0])
        today = self.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        entries = []
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            count = self.post_reads.get(day.strftime("%Y-%m-%d"), 0)
            entries.append({"date": day.strftime("%Y-%m-%dT00:00:00.000Z"), "usage": str(count)})
        total = sum(self.post_reads.values())
        return (
            200,
            {},
            {
                "data": {
                    "project_id": "1700000000000000000",
                    "project_usage": str(total),
                    "project_cap": "3000000",
                    "cap_reset_day": 1,
                    "daily_project_usage": {"project_id": "1700000000000000000", "usage": entries},
                }
            },
        )

    # -- rate limits -----------------------------------------------------------------------------------
    def _spend(self, endpoint: str) -> bool:
        """Count one request against the endpoint's window; True when the window was already spent."""
        budget = self.budgets.get(endpoint)
        if budget is None:
            return False
        now = self.clock.now()
        if budget.window_start is None or now >= budget.window_start + WINDOW:
            budget.window_start, budget.used = now, 0
        if budget.used >= budget.limit:
            return True
        budget.used += 1
        return False

    def _limit_headers(self, endpoint: str) -> dict[str, str]:
        budget = self.budgets.get(endpoint)
        if budget is None or budget.window_start is None:
            return {}
        reset = budget.window_start + WINDOW
        return {
            "x-rate-limit-limit": str(budget.limit),
            "x-rate-limit-remaining": str(max(budget.limit - budget.used, 0)),
            "x-rate-limit-reset": str(int(reset.timestamp())),
        }

    # -- the API ---------------------------------------------------------------------------------------
    def _route(self, endpoint: str, path: str, params: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if endpoint == "POST /2/tweets":
            return self._create(body)
        if endpoint == "GET /2/tweets":
            return self._lookup(params)
        if endpoint == "GET /2/users/me":
            return 200, {"data": self._user(self.me, _csv(params, "user.fields"))}
        if endpoint == "GET /2/users/:id/tweets":
            return self._timeline(path.split("/")[3], params)
        if endpoint == "GET /2/users/:id/mentions":
            return self._mentions(path.split("/")[3], params)
        if endpoint == "GET /2/tweets/search/recent":
            return self._search(params)
        return 404, _problem(404, "Not Found", f"no route for {endpoint}")

    def _new_post(self, author_id: str, text: str, at: datetime, in_reply_to: str | None) -> FakePost:
        self._seq += 1
        pid = snowflake(at, self._seq)
        parent = self.posts.get(in_reply_to) if in_reply_to else None
        post = FakePost(pid, text, author_id, at, parent.conversation_id if parent else pid, in_reply_to)
        post.public = {
            "impression_count": 0,
            "like_count": 0,
            "repost_count": 0,
            "reply_count": 0,
            "quote_count": 0,
            "bookmark_count": 0,
        }
        post.private = {"impression_count": 0, "user_profile_clicks": 0}
        if extract_urls_with_indices(text):
            post.private["url_link_clicks"] = 0
        self.posts[pid] = post
        return post

    def _create(self, body: Any) -> tuple[int, Any]:
        text = body.get("text", "") if isinstance(body, dict) else ""
        reply = (body or {}).get("reply") or {}
        target = reply.get("in_reply_to_tweet_id")
        if target is not None:
            parent = self.posts.get(target)
            if parent is None:
                return 400, _problem(400, "Invalid Request", f"post {target} does not exist")
            if parent.author_id != self.me.id and target not in self.summoned:
                return 403, _problem(403, "Forbidden", UNSUMMONED_DETAIL)
        if any(p.text == text for p in self.own_posts()):
            return 403, _problem(403, "Forbidden", DUPLICATE_DETAIL)
        post = self._new_post(self.me.id, text, self.clock.now(), target)
        return 201, {"data": {"id": post.id, "text": as_x_shows(text), "edit_history_tweet_ids": [post.id]}}

    def _lookup(self, params: dict[str, list[str]]) -> tuple[int, Any]:
        ids = _csv(params, "ids")
        fields = set(_csv(params, "post.fields") + _csv(params, "tweet.fields"))
        private = {"non_public_metrics", "organic_metrics"} & fields
        now = self.clock.now()
        if len(ids) > 100:
            return 400, _problem(400, "Invalid Request", "ids: at most 100")
        if private and not self.private_metrics:
            return 403, {
                "title": "Forbidden",
                "detail": "You are not authorized to access non_public_metrics",
                "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
                "status": 403,
            }
        data, errors = [], []
        for pid in ids:
            post = self.posts.get(pid)
            if post is None:
                errors.append(
                    {
                        "value": pid,
                        "detail": f"Could not find tweet with ids: [{pid}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": pid,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                )
                continue
            if private and now - post.created_at >= timedelta(days=30):
                return 400, _problem(400, "Invalid Request", "non-public metrics are only kept for 30 days")
            data.append(self._post(post, fields))
        out: dict[str, Any] = {"data": data} if data else {}
        if errors:
            out["errors"] = errors
        return 200, out

    def _timeline(self, user_id: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        if user_id != self.me.id:
            return 200, {"meta": {"result_count": 0}}
        fields = set(_csv(params, "post.fields"))
        since = params.get("since_id", [None])[0]
        until = params.get("until_id", [None])[0]
        mine = [
            p
            for p in reversed(self.own_posts())
            if (since is None or int(p.id) > int(since)) and (until is None or int(p.id) < int(until))
        ]
        return 200, self._page(mine, params, fields)

    def _mentions(self, user_id: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        user = self.users.get(user_id)
        if user is None:
            return 404, _problem(404, "Not Found", "user")
        start = _time(params, "start_time")
        found = [
            p
            for p in sorted(self.posts.values(), key=lambda p: -int(p.id))
            if p.author_id != user_id
            and f"@{user.username}".lower() in p.text.lower()
            and (start is None or p.created_at >= start)
        ]
        return 200, self._page(found, params, set(_csv(params, "post.fields")))

    def _search(self, params: dict[str, list[str]]) -> tuple[int, Any]:
        if not self.search_allowed:
            return 403, {
                "title": "Client Forbidden",
                "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens "
                "from a Twitter developer App that is attached to a Project.",
                "reason": "client-not-enrolled",
                "type": "https://api.twitter.com/2/problems/client-forbidden",
                "status": 403,
            }
        words = [w for w in params.get("query", [""])[0].lower().split() if not w.startswith("-") and ":" not in w]
        found = [
            p
            for p in sorted(self.posts.values(), key=lambda p: -int(p.id))
            if p.author_id != self.me.id and all(w in p.text.lower() for w in words)
        ]
        return 200, self._page(found, params, set(_csv(params, "post.fields")))

    def _page(self, posts: list[FakePost], params: dict[str, list[str]], fields: set[str]) -> dict[str, Any]:
        size = int(params.get("max_results", ["10"])[0])
        offset = int(params.get("pagination_token", ["0"])[0] or 0)
        page = posts[offset : offset + size]
        out: dict[str, Any] = {"meta": {"result_count": len(page)}}
        if page:
            out["data"] = [self._post(p, fields) for p in page]
            out["meta"] |= {"newest_id": page[0].id, "oldest_id": page[-1].id}
            if "author_id" in _csv(params, "expansions"):
                authors = {p.author_id for p in page}
                ufields = _csv(params, "user.fields")
                out["includes"] = {"users": [self._user(self.users[a], ufields) for a in sorted(authors)]}
        if offset + size < len(posts):
            out["meta"]["next_token"] = str(offset + size)
        return out

    def _post(self, post: FakePost, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": post.id, "text": as_x_shows(post.text), "edit_history_tweet_ids": [post.id]}
        out["author_id"] = post.author_id  # X adds it with expansions=author_id; harmless otherwise
        if "created_at" in fields:
            out["created_at"] = post.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if "conversation_id" in fields:
            out["conversation_id"] = post.conversation_id
        if "public_metrics" in fields:
            public = dict(post.public)
            if self.old_names:
                public["retweet_count"] = public.pop("repost_count")
            out["public_metrics"] = public
        if "non_public_metrics" in fields and post.author_id == self.me.id:
            out["non_public_metrics"] = dict(post.private)
        if "organic_metrics" in fields and post.author_id == self.me.id:
            organic = {k: v for k, v in post.public.items() if k in ("like_count", "reply_count")}
            organic |= {"retweet_count": post.public["repost_count"], **post.private}
            out["organic_metrics"] = organic
        return out

    def _user(self, user: User, fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.username.title(), "username": user.username}
        if "public_metrics" in fields:
            posts = sum(1 for p in self.posts.values() if p.author_id == user.id)
            out["public_metrics"] = {
                "followers_count": user.followers,
                "following_count": 12,
                ("tweet_count" if self.old_names else "post_count"): posts,
                "listed_count": 0,
            }
        return out


def _template(path: str) -> str:
    return re.sub(r"^/2/users/(?!me$)[^/]+", "/2/users/:id", path)


def _csv(params: dict[str, list[str]], name: str) -> list[str]:
    return [v for value in params.get(name, []) for v in value.split(",") if v]


def _time(params: dict[str, list[str]], name: str) -> datetime | None:
    value = params.get(name, [None])[0]
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC) if value else None


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}
