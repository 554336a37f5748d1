"""A small stateful Bluesky (PDS and AppView in one) at the HTTP edge, for what Prism cannot show.

`FakeBluesky` is an httpx transport: handed to the adapter (`BlueskyPlatform(..., transport=fake)`), it
answers every request the `atproto` SDK makes, so the SDK's own code (URLs, the session's bearer token,
the refresh, its error classes) runs unchanged. It behaves as a PDS does where it matters to growthloop:

- sessions: createSession checks the identifier and app password and hands out JWTs whose `exp` comes from
  the clock; an access token past its expiry is answered 400 ExpiredToken, a refresh token past its own too;
- posts are `app.bsky.feed.post` records under TID record keys from the clock; a record over 300 graphemes
  or with reply refs to posts that do not exist is refused (400 InvalidRequest);
- every answer carries `ratelimit-*` headers; writes cost points (create 3) out of 5,000 an hour, and a
  spent budget is answered 429 with the reset;
- faults queued per method: a timeout before or after the request took effect, any status with any headers
  and body, a body that is not JSON.

Time comes from the clock it is given (a VirtualClock in tests).
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from growthloop.ports import Clock

FAKE_URL = "http://fake-bluesky.test"
HANDLE, DID = "growthloop.test", "did:plc:growthloopaccount00000a"
PASSWORD = "abcd-efgh-ijkl-mnop"
ACCESS_LIFE, REFRESH_LIFE = timedelta(hours=2), timedelta(days=60)
POST = "app.bsky.feed.post"
_B32 = "234567abcdefghijklmnopqrstuvwxyz"


def tid(at: datetime, seq: int) -> str:
    """A record key as the PDS makes them: microseconds since the epoch and a clock id, base32-sortable."""
    value = (int(at.timestamp() * 1_000_000) << 10) | (seq & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def jwt(payload: dict[str, Any]) -> str:
    def seg(data: dict[str, Any] | bytes) -> str:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{seg({'alg': 'ES256K', 'typ': 'at+jwt'})}.{seg(payload)}.{seg(b'signature')}"


def graphemes(text: str) -> int:
    """Close enough for the fake: combining marks and joiners do not start a new grapheme."""
    n, joined = 0, False
    for ch in text:
        if joined or unicodedata.category(ch) in ("Mn", "Me") or "\ufe00" <= ch <= "\ufe0f":
            joined = False
            continue
        if ch == "\u200d":
            joined = True
            continue
        n += 1
    return n


@dataclass
class Fault:
    kind: str  # pass (answer as usual) | timeout_before | timeout_after | status | malformed
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class Post:
    uri: str
    cid: str
    author_did: str
    author_handle: str
    record: dict[str, Any]
    indexed_at: datetime
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "cid": self.cid,
            "author": {"did": self.author_did, "handle": self.author_handle},
            "record": self.record,
            "likeCount": self.likes,
            "repostCount": self.reposts,
            "replyCount": self.replies,
            "quoteCount": self.quotes,
            "indexedAt": _iso(self.indexed_at),
        }


@dataclass
class Recorded:
    method: str  # the NSID
    params: dict[str, list[str]]
    body: Any
    at: datetime
    authorization: str
    status: int | None = None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FakeBluesky(httpx.BaseTransport):
    def __init__(self, clock: Clock, *, points_per_hour: int = 5000, read_limit: int = 3000) -> None:
        self.clock = clock
        self.posts: dict[str, Post] = {}
        self.followers = 42
        self.notifications: list[dict[str, Any]] = []
        self.handles = {HANDLE: DID, "friend.test": "did:plc:friend000000000000000000"}
        self.faults: dict[str, deque[Fault]] = {}
        self.requests: list[Recorded] = []
        self.access: dict[str, datetime] = {}  # token -> expiry
        self.refresh: dict[str, datetime] = {}
        self.points_per_hour, self.points_spent = points_per_hour, deque[tuple[datetime, int]]()
        self.read_limit = read_limit
        self._seq = 0

    # -- test helpers ---------------------------------------------------------------------------------
    def fail(
        self, method: str, kind: str, status: int = 0, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        self.faults.setdefault(method, deque()).append(Fault(kind, status, headers or {}, body))

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    def own_posts(self) -> list[Post]:
        return [p for p in self.posts.values() if p.author_did == DID]

    def expire_sessions(self) -> None:
        """The server forgets every access token's life: each is now expired, whatever its `exp` says."""
        for token in self.access:
            self.access[token] = self.clock.now() - timedelta(seconds=1)

    def add_post(
        self, author: str, text: str, *, reply_to: Post | None = None, at: datetime | None = None, **counts: int
    ) -> Post:
        at = at or self.clock.now()
        did = self.handles.setdefault(author, f"did:plc:{author.split('.')[0]:0<24}"[:32])
        record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": _iso(at)}
        if reply_to is not None:
            root = reply_to.record.get("reply", {}).get("root") or {"uri": reply_to.uri, "cid": reply_to.cid}
            record["reply"] = {"root": root, "parent": {"uri": reply_to.uri, "cid": reply_to.cid}}
        return self._store(did, author, record, at, **counts)

    def notify(self, post: Post, reason: str) -> None:
        self.notifications.insert(
            0,
            {
                "uri": post.uri,
                "cid": post.cid,
                "author": {"did": post.author_did, "handle": post.author_handle, "followersCount": 7},
                "reason": reason,
                "record": post.record,
                "isRead": False,
                "indexedAt": _iso(post.indexed_at),
            },
        )

    # -- the transport --------------------------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        method = url.path.removeprefix("/xrpc/")
        params = parse_qs(url.query)
        body = json.loads(request.content) if request.content else None
        seen = Recorded(method, params, body, self.clock.now(), request.headers.get("authorization", ""))
        self.requests.append(seen)
        fault = self.faults.get(method, deque()).popleft() if self.faults.get(method) else None
        if fault is not None and fault.kind == "timeout_before":
            raise httpx.ReadTimeout("timed out", request=request)
        response = self._answer(method, params, body, seen.authorization)
        if fault is not None and fault.kind == "timeout_after":
            raise httpx.ReadTimeout("timed out after the request took effect", request=request)
        if fault is not None and fault.kind == "status":
            response = self._json(fault.status, fault.body, fault.headers)
        if fault is not None and fault.kind == "malformed":
            response = httpx.Response(
                200, content=b"<html>gateway</html>", headers={"content-type": "application/json"}
            )
        seen.status = response.status_code
        return response

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        reset = int((self.clock.now() + timedelta(minutes=5)).timestamp())
        base = {
            "ratelimit-limit": str(self.read_limit),
            "ratelimit-remaining": str(self.read_limit - 1),
            "ratelimit-reset": str(reset),
            "ratelimit-policy": f"{self.read_limit};w=300",
        }
        return httpx.Response(status, json=body, headers={**base, **(headers or {})})

    def _error(self, status: int, error: str, message: str) -> httpx.Response:
        return self._json(status, {"error": error, "message": message})

    def _answer(self, method: str, params: dict[str, list[str]], body: Any, auth: str) -> httpx.Response:
        now = self.clock.now()
        if method == "com.atproto.server.createSession":
            if body.get("identifier") not in (HANDLE, DID) or body.get("password") != PASSWORD:
                return self._error(401, "AuthenticationRequired", "Invalid identifier or password")
            return self._json(200, self._session())
        if method == "com.atproto.server.refreshSession":
            token = auth.removeprefix("Bearer ")
            if token not in self.refresh:
                return self._error(400, "InvalidToken", "Token could not be verified")
            if self.refresh.pop(token) <= now:
                return self._error(400, "ExpiredToken", "Token has expired")
            return self._json(200, self._session())
        token = auth.removeprefix("Bearer ")
        if method != "com.atproto.identity.resolveHandle":
            if token not in self.access:
                return self._error(401, "AuthenticationRequired", "Authentication Required")
            if self.access[token] <= now:
                return self._error(400, "ExpiredToken", "Token has expired")
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return self._error(501, "MethodNotImplemented", f"Method Not Implemented: {method}")
        result: httpx.Response = handler(params, body)
        return result

    def _session(self) -> dict[str, Any]:
        now = self.clock.now()
        self._seq += 1
        access = jwt(
            {
                "scope": "com.atproto.appPass",
                "sub": DID,
                "iat": int(now.timestamp()),
                "exp": int((now + ACCESS_LIFE).timestamp()),
                "n": self._seq,
            }
        )
        refresh = jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": DID,
                "jti": f"r{self._seq}",
                "exp": int((now + REFRESH_LIFE).timestamp()),
            }
        )
        self.access[access], self.refresh[refresh] = now + ACCESS_LIFE, now + REFRESH_LIFE
        return {"accessJwt": access, "refreshJwt": refresh, "handle": HANDLE, "did": DID, "active": True}

    def _store(self, did: str, handle: str, record: dict[str, Any], at: datetime, **counts: int) -> Post:
        self._seq += 1
        rkey = tid(at, self._seq)
        uri = f"at://{did}/{POST}/{rkey}"
        post = Post(uri, f"bafyrei{rkey}cid", did, handle, record, at, **counts)
        self.posts[uri] = post
        parent = record.get("reply", {}).get("parent", {}).get("uri")
        if parent in self.posts:
            self.posts[parent].replies += 1
        return post

    # -- the methods ----------------------------------------------------------------------------------
    def _com_atproto_repo_createRecord(self, params: Any, body: dict[str, Any]) -> httpx.Response:
        now = self.clock.now()
        while self.points_spent and self.points_spent[0][0] <= now - timedelta(hours=1):
            self.points_spent.popleft()
        used = sum(p for _at, p in self.points_spent)
        if used + 3 > self.points_per_hour:
            reset = int((self.points_spent[0][0] + timedelta(hours=1)).timestamp())
            return self._json(
                429,
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                {
                    "ratelimit-limit": str(self.points_per_hour),
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                },
            )
        record = body.get("record") or {}
        if body.get("repo") not in (DID, HANDLE) or body.get("collection") != POST:
            return self._error(400, "InvalidRequest", "repo or collection")
        text = record.get("text")
        if record.get("$type") != POST or not isinstance(text, str) or "createdAt" not in record:
            return self._error(400, "InvalidRequest", "Invalid app.bsky.feed.post record")
        if graphemes(text) > 300:
            return self._error(
                400,
                "InvalidRequest",
                "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes",
            )
        reply = record.get("reply")
        if reply is not None:
            for ref in ("root", "parent"):
                target = self.posts.get(reply.get(ref, {}).get("uri"))
                if target is None or target.cid != reply[ref].get("cid"):
                    return self._error(400, "InvalidRequest", f"reply {ref} does not exist")
        self.points_spent.append((now, 3))
        post = self._store(DID, HANDLE, record, now)
        return self._json(200, {"uri": post.uri, "cid": post.cid, "validationStatus": "valid"})

    def _com_atproto_repo_listRecords(self, params: dict[str, list[str]], body: Any) -> httpx.Response:
        limit = int(params.get("limit", ["50"])[0])
        cursor = params.get("cursor", [None])[0]
        mine = sorted((p for p in self.own_posts()), key=lambda p: p.uri, reverse=True)
        if cursor:
            mine = [p for p in mine if p.uri.rsplit("/", 1)[1] < cursor]
        page = mine[:limit]
        out: dict[str, Any] = {"records": [{"uri": p.uri, "cid": p.cid, "value": p.record} for p in page]}
        if len(mine) > limit:
            out["cursor"] = page[-1].uri.rsplit("/", 1)[1]
        return self._json(200, out)

    def _app_bsky_feed_getPosts(self, params: dict[str, list[str]], body: Any) -> httpx.Response:
        uris = params.get("uris", [])
        if len(uris) > 25:
            return self._error(400, "InvalidRequest", "uris must not have more than 25 elements")
        return self._json(200, {"posts": [self.posts[u].view() for u in uris if u in self.posts]})

    def _app_bsky_actor_getProfile(self, params: dict[str, list[str]], body: Any) -> httpx.Response:
        actor = params.get("actor", [""])[0]
        if actor not in (DID, HANDLE):
            return self._error(400, "InvalidRequest", "Profile not found")
        posts = len(self.own_posts())
        return self._json(200, {"did": DID, "handle": HANDLE, "followersCount": self.followers, "postsCount": posts})

    def _app_bsky_notification_listNotifications(self, params: dict[str, list[str]], body: Any) -> httpx.Response:
        reasons = set(params.get("reasons", [])) or None
        limit = int(params.get("limit", ["50"])[0])
        start = int(params.get("cursor", ["0"])[0])
        chosen = [n for n in self.notifications if reasons is None or n["reason"] in reasons]
        page = chosen[start : start + limit]
        out: dict[str, Any] = {"notifications": page}
        if start + limit < len(chosen):
            out["cursor"] = str(start + limit)
        return self._json(200, out)

    def _app_bsky_feed_searchPosts(self, params: dict[str, list[str]], body: Any) -> httpx.Response:
        q = params.get("q", [""])[0].lower()
        limit = int(params.get("limit", ["25"])[0])
        found = sorted(
            (p for p in self.posts.values() if q in p.record["text"].lower()), key=lambda p: p.uri, reverse=True
        )
        return self._json(200, {"posts": [p.view() for p in found[:limit]]})

    def _com_atproto_identity_resolveHandle(self, params: dict[str, list[str]], body: Any) -> httpx.Response:
        handle = params.get("handle", [""])[0]
        if handle not in self.handles:
            return self._error(400, "HandleNotFound", "Unable to resolve handle")
        return self._json(200, {"did": self.handles[handle]})
