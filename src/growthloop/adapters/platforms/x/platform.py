"""XPlatform: the X API v2 through the official SDK `xdk`, as a growthloop Platform (docs/design.md#ports).

Every HTTP call goes through `_call`, which
- waits, through the Clock, for an endpoint whose rate-limit window X said is spent, and waits out a 429
  until the reset X gave; a wait longer than `max_wait` raises RateLimited(until) instead, so the job
  records it and moves on (a job has a wall-clock timeout: it must not sleep for a quarter of an hour);
- translates the SDK's and requests' errors into growthloop's tree (see `edge.py`);
- reads the raw JSON body (see `parse.py` for why not the SDK's models).

Publishing (I3, docs/design.md#i3): a thread is the first part, then each next part as a reply to the one before;
the receipt records every part's id. A timeout or a lost connection is an unknown outcome
(PlatformUnavailable): the post stage keeps the row in 'posting' and, before any retry, calls
`find_published`, which looks for the text among the account's recent posts. A thread cut short after
its first part is reported the same way, and `find_published` finds the parts that went out and posts
the rest, each after checking it is not already there: a part is never posted twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from types import GeneratorType
from typing import TYPE_CHECKING, Any, Literal

import pydantic
import requests
import structlog
import xdk
from xdk.posts.models import CreateRequest

from growthloop.adapters.platforms.headers import wait_out
from growthloop.adapters.platforms.x import parse
from growthloop.adapters.platforms.x.credentials import XCredentials
from growthloop.adapters.platforms.x.edge import RateLimits, TimeoutAdapter, credits_exhausted, translate
from growthloop.adapters.platforms.x.models import AccessDenied, XAccount
from growthloop.domain import MENTION, SEARCH, Capabilities, Mention, PostMetrics, PublishReceipt, PublishRequest
from growthloop.errors import AuthFailed, ContentRejected, PlatformError, PlatformUnavailable, RateLimited
from growthloop.ports import Clock, Platform

log = structlog.get_logger("growthloop.x")

DEFAULT_BASE_URL = "https://api.x.com"
DEFAULT_MAX_WAIT = timedelta(seconds=60)  # below a job's default 120 s timeout
DEFAULT_TIMEOUT = 30.0  # seconds per HTTP request
MAX_ATTEMPTS = 3  # per call, counting the retries after waiting out a 429
BATCH = 100  # ids per posts lookup (the spec's maxItems)
NON_PUBLIC_MAX_AGE = timedelta(days=30) - timedelta(hours=1)  # X keeps non-public metrics 30 days
OWNED_PAGES = 10  # pages of 100 of the owned timeline per metrics call, at most

PUBLIC_FIELDS: list[Any] = ["public_metrics"]
PRIVATE_FIELDS: list[Any] = ["public_metrics", "non_public_metrics", "organic_metrics"]
TIMELINE_FIELDS: list[Any] = ["id", "text", "created_at", "conversation_id"]
# Not `author_id`: the spec's post.fields has no such value; the author comes with expansions=author_id.
FOUND_FIELDS: list[Any] = ["id", "text", "created_at", "conversation_id", "public_metrics"]
AUTHOR_FIELDS: list[Any] = ["id", "username", "public_metrics"]
ME_FIELDS: list[Any] = ["id", "username", "public_metrics"]

Endpoint = Literal[
    "POST /2/tweets",
    "GET /2/tweets",
    "GET /2/users/me",
    "GET /2/users/:id/tweets",
    "GET /2/users/:id/mentions",
    "GET /2/tweets/search/recent",
    "GET /2/usage/tweets",
]


class XPlatform:
    name = "x"

    def __init__(
        self,
        credentials: XCredentials,
        clock: Clock,
        *,
        base_url: str = DEFAULT_BASE_URL,
        user_id: str | None = None,
        account: str = "default",
        max_wait: timedelta = DEFAULT_MAX_WAIT,
        timeout: float = DEFAULT_TIMEOUT,
        timeline_pages: int = 2,
        mention_pages: int = 3,
        search: bool = True,
        search_results: int = 20,
        owned_window: timedelta = timedelta(0),
    ) -> None:
        if user_id is not None and not parse.valid_id(user_id):
            raise ValueError(f"user_id must be X's numeric user id, got {user_id!r}")
        if not 10 <= search_results <= 100:
            raise ValueError(f"search_results must be within 10..100 (X's page size), got {search_results}")
        self.credentials, self.clock, self.account = credentials, clock, account
        self.base_url = base_url.rstrip("/")
        self.max_wait, self.timeline_pages, self.mention_pages = max_wait, timeline_pages, mention_pages
        self._user_id = user_id
        self._limits = RateLimits()
        self._private_metrics = True  # until X refuses them to this app
        self._search = search  # until X says the app's access level lacks it
        self.search_results = search_results
        self.owned_window = owned_window  # own posts this young are measured through the owned timeline
        self._seen = threading.local()  # the last HTTP response of this thread's call
        self._calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # answered calls, for spend/
        self.client = xdk.Client(base_url=self.base_url, **credentials.client_kwargs())
        self.session: requests.Session = self.client.session
        for prefix in ("https://", "http://"):
            self.session.mount(prefix, TimeoutAdapter(timeout))
        self.session.hooks["response"].append(self._capture)

    def __repr__(self) -> str:
        return f"XPlatform(account={self.account!r}, base_url={self.base_url!r}, credentials={self.credentials!r})"

    # -- the port --------------------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        # Non-public metrics (profile and link clicks) need user context, which both credential modes
        # are; they become unavailable if X refuses them to this app. Self-serve X (2026) allows an
        # automated reply only where the account was summoned.
        return Capabilities(
            impressions=True, profile_clicks=self._private_metrics, unsummoned_replies=False, search=self._search
        )

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        if not request.parts or not all(p.strip() for p in request.parts):
            raise ContentRejected("x: a post or thread part is empty")
        if request.in_reply_to is not None and not parse.valid_id(request.in_reply_to):
            raise ContentRejected(f"x: cannot reply to {request.in_reply_to!r}: not an X post id")
        ids: list[str] = []
        published_at = now
        for i, text in enumerate(request.parts):
            try:
                ids.append(self._create(text, reply_to=ids[-1] if ids else request.in_reply_to))
                if i == 0:
                    published_at = self.clock.now()  # later than `now` if a rate limit was waited out
            except PlatformError as exc:
                if not ids:
                    raise
                raise PlatformUnavailable(
                    f"x: thread {request.key} partly published: parts 1-{len(ids)} of {len(request.parts)} are "
                    f"out (first {ids[0]}), part {i + 1} failed ({exc}); reconciliation posts the rest"
                ) from None
        return PublishReceipt(platform_id=ids[0], part_ids=tuple(ids), published_at=published_at)

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        """The receipt if the first part is among the account's recent posts; a cut thread is completed.

        A post's first part starts its own conversation; a reply's joins the conversation it answers.
        Each next part is the earliest later post of ours, in the same conversation, with that text.
        """
        if not request.parts:
            return None
        timeline = self._recent_own_posts()
        wanted = [parse.normalize(p) for p in request.parts]

        def starts_own(p: dict[str, Any]) -> bool:
            return p.get("conversation_id") in (None, p["id"])

        roots = [
            p
            for p in timeline
            if parse.normalize(p["text"]) == wanted[0] and (request.in_reply_to is not None or starts_own(p))
        ]
        if not roots:
            return None
        root = max(roots, key=lambda p: int(p["id"]))  # the newest, should the same text exist twice
        conversation = root.get("conversation_id") or root["id"]
        ids = [str(root["id"])]
        for part in wanted[1:]:
            later = [
                p
                for p in timeline
                if (p.get("conversation_id") or p["id"]) == conversation
                and int(p["id"]) > int(ids[-1])
                and parse.normalize(p["text"]) == part
            ]
            if not later:
                break
            ids.append(str(min(later, key=lambda p: int(p["id"]))["id"]))
        if len(ids) < len(request.parts):
            ids = self._complete_thread(request, ids)
        published_at = parse.parse_time(root.get("created_at")) or parse.created_from_id(ids[0]) or now
        return PublishReceipt(platform_id=ids[0], part_ids=tuple(ids), published_at=published_at)

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]:
        """Counters for every id X still has (deleted posts are left out, as X leaves them out).

        Non-public and organic metrics are asked for only for posts younger than 30 days (their life on
        X; the age comes from the snowflake id) and only while X grants them to this app.
        """
        wanted = list(dict.fromkeys(platform_ids))
        invalid = [p for p in wanted if not parse.valid_id(p)]
        if invalid:
            log.warning("x.metrics_invalid_ids", count=len(invalid), example=invalid[0][:40])
        ids = [p for p in wanted if parse.valid_id(p)]
        found: dict[str, PostMetrics] = {}
        owned = [p for p in ids if parse.young_enough(p, now, min(self.owned_window, NON_PUBLIC_MAX_AGE))]
        if owned:
            found |= self._owned_metrics(owned)
        rest = [p for p in ids if p not in found]
        young = [p for p in rest if parse.young_enough(p, now, NON_PUBLIC_MAX_AGE)]
        old = [p for p in rest if not parse.young_enough(p, now, NON_PUBLIC_MAX_AGE)]
        for group, private in ((young, True), (old, False)):
            for start in range(0, len(group), BATCH):
                chunk = group[start : start + BATCH]
                for post in parse.posts(self._lookup(chunk, private and self._private_metrics)):
                    if post["id"] in chunk:
                        found[post["id"]] = parse.post_metrics(post)
        return [found[p] for p in ids if p in found]

    def _owned_metrics(self, ids: list[str]) -> dict[str, PostMetrics]:
        """Metrics of the account's own young posts from its timeline (X's Owned Reads, $0.001 a post instead of
        a lookup's $0.005): the posts between the oldest and the newest id asked for, page by page until all
        are found. Posts the timeline does not give (deleted, beyond its reach) are left to the lookup."""
        user_id = self._resolve_user_id()
        newest, oldest = max(ids, key=int), min(ids, key=int)
        wanted, found = set(ids), {}
        token: str | None = None
        for _page in range(OWNED_PAGES):
            fields = PRIVATE_FIELDS if self._private_metrics else PUBLIC_FIELDS
            request = partial(
                self.client.users.get_posts,
                id=user_id,
                max_results=100,
                since_id=str(int(oldest) - 1),
                until_id=str(int(newest) + 1),
                pagination_token=token,
                post_fields=fields,
            )
            try:
                body = self._call("GET /2/users/:id/tweets", request, write=False)
            except AuthFailed as exc:
                if not self._private_metrics:
                    raise
                self._private_metrics = False
                log.warning("x.non_public_metrics_refused", error=str(exc))
                continue
            for post in parse.posts(body):
                if post["id"] in wanted:
                    found[post["id"]] = parse.post_metrics(post)
            token = parse.next_token(body)
            if token is None or len(found) == len(wanted):
                break
        return found

    def follower_count(self, now: datetime) -> int:
        body = self._me()
        data = body.get("data")
        metrics = data.get("public_metrics") if isinstance(data, dict) else None
        followers = parse.count(metrics, "followers_count", post_id="users/me")
        if followers is None:
            raise PlatformError("x: users/me gave no valid public_metrics.followers_count: no follower count observed")
        return followers

    # -- beyond the port: the doctor's check, a reply shortcut, the rate-limit state ----------------------
    def check_credentials(self, now: datetime) -> XAccount:
        """One harmless call (users/me). Raises AuthFailed naming the credential variables when refused."""
        body = self._me()
        account = parse.account(body)
        if account is None:
            raise PlatformError("x: users/me returned no user with a valid id")
        if self._user_id is not None and account.user_id != self._user_id:
            raise AuthFailed(
                f"x: the credentials ({self.credentials.describe()}) act for user {account.user_id}, "
                f"but this account is configured as user {self._user_id}"
            )
        self._user_id = account.user_id
        return account

    def reply(self, in_reply_to_id: str, text: str, now: datetime, key: str = "reply") -> PublishReceipt:
        """Reply to one post: `publish` with `in_reply_to`. An unsummoned reply raises ReplyNotAllowed."""
        return self.publish(PublishRequest(key=key, parts=(text,), in_reply_to=in_reply_to_id), now)

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        """Posts that mention the account created after `since`, oldest first (up to `mention_pages` pages)."""
        user_id = self._resolve_user_id()
        start = since.astimezone(UTC).replace(microsecond=0)  # X's start_time is inclusive, to the second
        out: dict[str, Mention] = {}
        token: str | None = None
        for _page in range(self.mention_pages):
            body = self._call(
                "GET /2/users/:id/mentions",
                partial(
                    self.client.users.get_mentions,
                    id=user_id,
                    max_results=100,
                    start_time=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    pagination_token=token,
                    post_fields=FOUND_FIELDS,
                    expansions=["author_id"],
                    user_fields=AUTHOR_FIELDS,
                ),
                write=False,
            )
            users = parse.users_by_id(body)
            for post in parse.posts(body):
                if not parse.valid_id(post["id"]):
                    continue  # not a post anyone could reply to
                m = parse.mention(post, MENTION, users)
                if m is not None and since < m.created_at <= now and post.get("author_id") != user_id:
                    out.setdefault(m.platform_id, m)
            token = parse.next_token(body)
            if token is None:
                break
        return sorted(out.values(), key=_id_order)

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        """One page of X's recent search (the last 7 days; reposts left out), oldest first.

        When X says the app's access level does not include search, search is switched off (see
        `capabilities().search`) and the answer is empty: the replies stage then lives on mentions.
        """
        if not query.strip():
            raise ValueError("search query is empty")
        if "is:retweet" not in query:
            query = f"{query} -is:retweet"
        try:
            body = self._call(
                "GET /2/tweets/search/recent",
                partial(
                    self.client.posts.search_recent,
                    query=query,
                    max_results=self.search_results,
                    post_fields=FOUND_FIELDS,
                    expansions=["author_id"],
                    user_fields=AUTHOR_FIELDS,
                ),
                write=False,
            )
        except AccessDenied as exc:
            self._search = False
            log.warning("x.search_not_in_plan", error=str(exc))
            return []
        users = parse.users_by_id(body)
        theirs = [
            p
            for p in parse.posts(body)
            if parse.valid_id(p["id"]) and (self._user_id is None or p.get("author_id") != self._user_id)
        ]
        found = (parse.mention(p, SEARCH, users) for p in theirs)
        return sorted((m for m in found if m is not None), key=_id_order)

    def rate_limit_state(self) -> dict[str, dict[str, tuple[int | None, datetime | None]]]:
        """endpoint -> limit family -> (remaining, reset), as X's headers last said."""
        return {
            endpoint: {family: (w.remaining, w.reset) for family, w in windows.items()}
            for endpoint, windows in self._limits.windows.items()
        }

    # -- calls -----------------------------------------------------------------------------------------
    def _create(self, text: str, reply_to: str | None) -> str:
        payload: dict[str, Any] = {"text": text}
        if reply_to is not None:
            payload["reply"] = {"in_reply_to_tweet_id": reply_to}
        body = CreateRequest.model_validate(payload)
        sent = {"text": text, "reply_to": reply_to}
        data = self._call("POST /2/tweets", lambda: self.client.posts.create(body=body), write=True, sent=sent)
        created = data.get("data")
        pid = created.get("id") if isinstance(created, dict) else None
        if not parse.valid_id(pid):
            raise PlatformUnavailable("x: POST /2/tweets answered without a valid post id; the outcome is unknown")
        return str(pid)

    def _complete_thread(self, request: PublishRequest, ids: list[str]) -> list[str]:
        """Post the parts of a cut thread that are not on X yet (the timeline was just checked)."""
        ids = list(ids)
        for i in range(len(ids), len(request.parts)):
            try:
                ids.append(self._create(request.parts[i], reply_to=ids[-1]))
            except ContentRejected as exc:
                log.warning("x.thread_completion_rejected", key=request.key, part=i + 1, error=str(exc))
                break
            log.info("x.thread_completed_part", key=request.key, part=i + 1, platform_id=ids[-1])
        return ids

    def _lookup(self, ids: list[str], private: bool) -> dict[str, Any]:
        fields = PRIVATE_FIELDS if private else PUBLIC_FIELDS
        try:
            return self._call(
                "GET /2/tweets", lambda: self.client.posts.get_by_ids(ids=ids, post_fields=fields), write=False
            )
        except AuthFailed as exc:
            if not private:
                raise
            body = self._lookup(ids, False)  # a refusal of these too is about the credentials
            self._private_metrics = False
            log.warning("x.non_public_metrics_refused", error=str(exc))
            return body

    def _me(self) -> dict[str, Any]:
        return self._call("GET /2/users/me", lambda: self.client.users.get_me(user_fields=ME_FIELDS), write=False)

    def _resolve_user_id(self) -> str:
        if self._user_id is None:
            account = parse.account(self._me())
            if account is None:
                raise PlatformError("x: users/me returned no user with a valid id: cannot read the account's posts")
            self._user_id = account.user_id
        return self._user_id

    def _recent_own_posts(self) -> list[dict[str, Any]]:
        """The account's latest posts and replies (up to `timeline_pages` pages of 100), for reconciliation."""
        user_id = self._resolve_user_id()
        found: dict[str, dict[str, Any]] = {}
        token: str | None = None
        for _page in range(self.timeline_pages):
            body = self._call(
                "GET /2/users/:id/tweets",
                partial(
                    self.client.users.get_posts,
                    id=user_id,
                    max_results=100,
                    pagination_token=token,
                    exclude=["retweets"],
                    post_fields=TIMELINE_FIELDS,
                ),
                write=False,
            )
            for post in parse.posts(body):
                if parse.valid_id(post["id"]):
                    found.setdefault(post["id"], post)
            token = parse.next_token(body)
            if token is None:
                break
        return list(found.values())

    # -- the edge --------------------------------------------------------------------------------------
    def _capture(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._seen.response = response

    def drain_calls(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """The calls X answered since the last drain (endpoint, body, what was sent): what X bills, priced by
        the metered wrapper (adapters/platforms/metered.py)."""
        calls, self._calls = self._calls, []
        return calls

    def _call(
        self, endpoint: Endpoint, request: Callable[[], object], *, write: bool, sent: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One HTTP request through the SDK: its JSON body, or a growthloop PlatformError."""
        unknown = "; the outcome is unknown" if write else ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self._wait_for_budget(endpoint)
            self._seen.response = None
            try:
                result = request()
                if isinstance(result, GeneratorType):  # a paginating method: one page per call, ours to drive
                    _first_page(result)
            except requests.exceptions.JSONDecodeError:
                raise self._malformed(endpoint, unknown) from None
            except requests.HTTPError as exc:
                response = exc.response
                if response is None:
                    raise PlatformUnavailable(f"x {endpoint}: an HTTP error without a response{unknown}") from None
                self._limits.update(endpoint, response.headers)
                spent = credits_exhausted(response, endpoint, self.clock.now(), self.credentials)
                if spent is not None:
                    raise spent from None
                if response.status_code == 429:
                    now = self.clock.now()
                    until = max(RateLimits.until_after_429(response.headers, now), now)
                    if attempt < MAX_ATTEMPTS and until - now <= self.max_wait:
                        log.warning("x.rate_limited_waiting", endpoint=endpoint, until=until.isoformat())
                        self.clock.sleep_until(until)
                        continue
                    raise RateLimited(until, f"x {endpoint}: 429 Too Many Requests") from None
                raise translate(response, endpoint, write, self.credentials) from None
            except requests.Timeout as exc:
                raise PlatformUnavailable(f"x {endpoint}: timed out ({type(exc).__name__}){unknown}") from None
            except requests.ConnectionError as exc:
                raise PlatformUnavailable(f"x {endpoint}: connection failed ({type(exc).__name__}){unknown}") from None
            except requests.RequestException as exc:
                raise PlatformUnavailable(f"x {endpoint}: {type(exc).__name__}{unknown}") from None
            except pydantic.ValidationError:
                pass  # the SDK's model refused the body (an older field name, say): it is read raw below
            body = self._body(endpoint, unknown)
            self._calls.append((endpoint, body, sent or {}))
            return body
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait_for_budget(self, endpoint: str) -> None:
        wait_out(self.clock, self._limits.blocked_until(endpoint, self.clock.now()), self.max_wait, "x", endpoint)

    def _body(self, endpoint: str, unknown: str) -> dict[str, Any]:
        response: requests.Response | None = getattr(self._seen, "response", None)
        if response is None:
            raise PlatformUnavailable(f"x {endpoint}: the SDK returned without an HTTP response{unknown}")
        self._limits.update(endpoint, response.headers)
        try:
            body = response.json()
        except ValueError:
            raise self._malformed(endpoint, unknown, response.status_code) from None
        if not isinstance(body, dict):
            raise self._malformed(endpoint, unknown, response.status_code)
        return body

    def _malformed(self, endpoint: str, unknown: str, status: int | None = None) -> PlatformUnavailable:
        if status is None:
            response = getattr(self._seen, "response", None)
            status = response.status_code if response is not None else None
        return PlatformUnavailable(f"x {endpoint}: {status}: the body is not a JSON object{unknown}")


def _first_page(pages: Iterator[object]) -> None:
    try:
        next(pages, None)
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _id_order(m: Mention) -> tuple[int, str]:
    return (int(m.platform_id) if parse.valid_id(m.platform_id) else -1, m.platform_id)


__all__ = ["DEFAULT_BASE_URL", "XPlatform"]


if TYPE_CHECKING:

    def _is_a_platform(p: XPlatform) -> Platform:  # mypy checks XPlatform against the port
        return p
