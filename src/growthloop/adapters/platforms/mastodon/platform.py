"""MastodonPlatform: the Mastodon API of any instance through `Mastodon.py`, as a growthloop Platform
(docs/design.md#ports).

Every HTTP call goes through `_call`, which
- waits, through the Clock, for an endpoint whose X-RateLimit window the instance said is spent, and
  waits out a 429 until its X-RateLimit-Reset; a wait longer than `max_wait` raises RateLimited(until)
  (Mastodon.py runs with ratelimit_method="throw": its own "wait" would sleep on the wall clock);
- translates Mastodon.py's and requests' errors into growthloop's tree (see `edge.py`);
- reads the raw JSON body of the answer (see `parse.py`).

Publishing (I3, docs/design.md#i3): a thread is the first status, then each next part in reply to the one before
(`in_reply_to_id`). Every status is posted with an Idempotency-Key made of our decision id and the part's
number, so the instance creates it once however often it is sent: a post whose answer was lost (a
timeout) is retried with the same key and the instance answers with the status it already made. The
instance keeps keys for an hour; beyond that `find_published` looks for the text among the account's
own recent statuses first, and posts only the parts that are not there.

The length rule comes from the instance (GET /api/v2/instance: configuration.statuses.max_characters
and characters_reserved_per_url), read once by `connect`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import requests
import structlog
from mastodon import Mastodon
from mastodon.errors import MastodonError, MastodonNetworkError

from growthloop.adapters.platforms.headers import wait_out
from growthloop.adapters.platforms.mastodon import parse
from growthloop.adapters.platforms.mastodon.credentials import ACCESS_TOKEN, MastodonCredentials
from growthloop.adapters.platforms.mastodon.edge import DocumentedSession, NotFound, RateLimits, translate
from growthloop.domain import (
    MASTODON,
    MENTION,
    QUOTE,
    SEARCH,
    Capabilities,
    LengthRule,
    Mention,
    PostMetrics,
    PublishReceipt,
    PublishRequest,
)
from growthloop.errors import AuthFailed, ConfigError, ContentRejected, PlatformError, PlatformUnavailable, RateLimited
from growthloop.ports import Clock, Platform

log = structlog.get_logger("growthloop.mastodon")

DEFAULT_MAX_WAIT = timedelta(seconds=60)  # below a job's default 120 s timeout
DEFAULT_TIMEOUT = 30.0  # seconds per HTTP request
MAX_ATTEMPTS = 3  # per call, counting the retries after waiting out a 429
BATCH = 20  # ids per GET /api/v1/statuses
PAGE = 40  # Mastodon's largest page

Endpoint = Literal[
    "GET /api/v2/instance",
    "GET /api/v1/accounts/verify_credentials",
    "POST /api/v1/statuses",
    "GET /api/v1/statuses",
    "GET /api/v1/statuses/:id",
    "GET /api/v1/accounts/:id/statuses",
    "GET /api/v1/notifications",
    "GET /api/v2/search",
]


@dataclass(frozen=True)
class MastodonAccount:
    """The authenticated account, from verify_credentials. A count the instance did not give is None."""

    user_id: str
    username: str
    followers: int | None


class MastodonPlatform:
    name = "mastodon"

    def __init__(
        self,
        credentials: MastodonCredentials,
        clock: Clock,
        *,
        base_url: str,
        account: str = "default",
        max_wait: timedelta = DEFAULT_MAX_WAIT,
        timeout: float = DEFAULT_TIMEOUT,
        search: bool = True,
        timeline_pages: int = 2,
        mention_pages: int = 3,
    ) -> None:
        if not base_url.startswith(("https://", "http://")) or "://" == base_url.rstrip("/")[-3:]:
            raise ConfigError(
                "settings", "mastodon.base_url", f"{base_url!r} is not a URL such as https://mastodon.social"
            )
        self.credentials, self.clock, self.account = credentials, clock, account
        self.base_url = base_url.rstrip("/")
        self.max_wait, self.timeline_pages, self.mention_pages = max_wait, timeline_pages, mention_pages
        self._search = search  # until the instance refuses search
        self._batch = True  # GET /api/v1/statuses?id[]= (Mastodon 4.3+), until the instance says 404
        self._limits = RateLimits()
        self._rule: LengthRule | None = None
        self._me: MastodonAccount | None = None
        self._unreported: MastodonAccount | None = None  # connect's answer, for the doctor's check
        self._seen = threading.local()  # the last HTTP response of this thread's call
        self.session: requests.Session = DocumentedSession()
        self.client = Mastodon(
            access_token=credentials.token,
            api_base_url=self.base_url,
            ratelimit_method="throw",
            request_timeout=timeout,
            version_check_mode="none",
            session=self.session,
            user_agent="growthloop",
        )
        self.session.hooks["response"].append(self._capture)

    def __repr__(self) -> str:
        return f"MastodonPlatform(account={self.account!r}, base_url={self.base_url!r}, {self.credentials!r})"

    # -- connecting: the instance's rules and the account ------------------------------------------------
    def connect(self) -> MastodonAccount:
        """Read the instance's length rule and check the token. A wrong URL or a refused token is a
        ConfigError naming mastodon.base_url or GROWTHLOOP_MASTODON_ACCESS_TOKEN (exit 2 at start-up)."""
        try:
            self.length_rule()
        except PlatformError as exc:
            raise ConfigError(
                "settings", "mastodon.base_url", f"{self.base_url} does not answer as a Mastodon instance ({exc})"
            ) from None
        try:
            self._unreported = self._verify()
            return self._unreported
        except AuthFailed as exc:
            raise ConfigError("environment", ACCESS_TOKEN, f"refused by {self.base_url} ({exc})") from None

    def length_rule(self) -> LengthRule:
        """The instance's own limit and URL weight (GET /api/v2/instance, read once)."""
        if self._rule is None:
            body = self._call("GET /api/v2/instance", self.client.instance_v2, write=False)
            config = body.get("configuration") if isinstance(body, dict) else None
            st = config.get("statuses") if isinstance(config, dict) else None
            limit = parse.count(st, "max_characters")
            url_weight = parse.count(st, "characters_reserved_per_url")
            if not limit or url_weight is None:
                raise PlatformError(
                    "mastodon GET /api/v2/instance: no valid configuration.statuses.max_characters and "
                    "characters_reserved_per_url: the instance's length rule is unknown"
                )
            self._rule = LengthRule(MASTODON, limit, url_weight)
        return self._rule

    def check_credentials(self, now: datetime) -> MastodonAccount:
        """The account the token acts for: the doctor's one harmless call (verify_credentials), or the answer
        `connect` just had, not asked twice."""
        account, self._unreported = self._unreported, None
        return account if account is not None else self._verify()

    def _verify(self) -> MastodonAccount:
        body = self._call(
            "GET /api/v1/accounts/verify_credentials", self.client.account_verify_credentials, write=False
        )
        user_id = body.get("id") if isinstance(body, dict) else None
        username = (body.get("acct") or body.get("username")) if isinstance(body, dict) else None
        if not parse.valid_id(user_id) or not isinstance(username, str):
            raise PlatformError("mastodon verify_credentials returned no account with a valid id")
        self._me = MastodonAccount(str(user_id), username, parse.count(body, "followers_count"))
        return self._me

    # -- the port --------------------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        # Mastodon shows no impressions and no profile clicks. By the fediverse's norms, and the loop's,
        # only a post that mentions or quotes the account is answered automatically.
        rule = self.length_rule()
        return Capabilities(
            impressions=False,
            profile_clicks=False,
            unsummoned_replies=False,
            search=self._search,
            max_weighted_length=rule.limit,
            length_rule=rule.name,
            url_weight=rule.url_weight,
        )

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        if not request.parts or not all(p.strip() for p in request.parts):
            raise ContentRejected("mastodon: a post or thread part is empty")
        if request.in_reply_to is not None and not parse.valid_id(request.in_reply_to):
            raise ContentRejected(f"mastodon: cannot reply to {request.in_reply_to!r}: not a status id")
        return self._post_parts(request, [], now)

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        """The receipt if the first part is among the account's recent statuses; a cut thread is completed
        (each missing part posted with its Idempotency-Key, so a part is never posted twice)."""
        if not request.parts:
            return None
        mine = self._recent_own_statuses()
        wanted = [parse.normalize(p) for p in request.parts]

        def same(status: dict[str, Any], i: int, parent: str | None) -> bool:
            return parse.normalize(parse.text_of(status.get("content"))) == wanted[i] and (
                status.get("in_reply_to_id") == parent
            )

        roots = [s for s in mine if same(s, 0, request.in_reply_to)]
        if not roots:
            return None
        root = max(roots, key=_id_order)  # the newest, should the same text be there twice
        ids = [str(root["id"])]
        for i in range(1, len(wanted)):
            nxt = [s for s in mine if same(s, i, ids[-1])]
            if not nxt:
                break
            ids.append(str(min(nxt, key=_id_order)["id"]))
        published_at = parse.parse_time(root.get("created_at")) or now
        if len(ids) < len(request.parts):
            return self._post_parts(request, ids, published_at)
        return PublishReceipt(platform_id=ids[0], part_ids=tuple(ids), published_at=published_at)

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]:
        """Counters of every status the instance still has (deleted ones are left out)."""
        ids = [p for p in dict.fromkeys(platform_ids) if parse.valid_id(p)]
        found: dict[str, PostMetrics] = {}
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            for status in self._statuses(chunk):
                if status["id"] in chunk:
                    found[status["id"]] = parse.post_metrics(status)
        return [found[p] for p in ids if p in found]

    def _statuses(self, ids: list[str]) -> list[dict[str, Any]]:
        """Up to BATCH statuses in one call (Mastodon 4.3+), else one call each (older instances)."""
        if self._batch:
            try:
                return parse.statuses(
                    self._call("GET /api/v1/statuses", partial(self.client.statuses, ids), write=False)
                )
            except NotFound:
                self._batch = False
                log.info("mastodon.no_batch_statuses", note="the instance is older than 4.3: one call per status")
        out: list[dict[str, Any]] = []
        for sid in ids:
            try:
                body = self._call("GET /api/v1/statuses/:id", partial(self.client.status, sid), write=False)
            except NotFound:
                continue  # deleted: left out, as the batch call leaves it out
            out += parse.statuses([body])
        return out

    def follower_count(self, now: datetime) -> int:
        followers = self._verify().followers
        if followers is None:
            raise PlatformError("mastodon verify_credentials gave no valid followers_count: no follower count observed")
        return followers

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        """Statuses that mention or quote the account, created after `since`, oldest first (from notifications)."""
        me = self._me_id()
        out: dict[str, Mention] = {}
        max_id: str | None = None
        for _page in range(self.mention_pages):
            body = self._call(
                "GET /api/v1/notifications",
                partial(self.client.notifications, types=["mention", "quote"], limit=PAGE, max_id=max_id),
                write=False,
            )
            notes = [n for n in (body if isinstance(body, list) else []) if isinstance(n, dict)]
            for note in notes:
                status = note.get("status")
                kind = QUOTE if note.get("type") == "quote" else MENTION
                author = status.get("account") if isinstance(status, dict) else None
                if isinstance(author, dict) and author.get("id") == me:
                    continue
                m = parse.mention(status, kind)
                if m is not None and since < m.created_at <= now:
                    out.setdefault(m.platform_id, m)
            times = [parse.parse_time(n.get("created_at")) for n in notes]
            ids = [n.get("id") for n in notes if parse.valid_id(n.get("id"))]
            if len(notes) < PAGE or not ids or any(t is not None and t <= since for t in times):
                break
            max_id = str(ids[-1])
        return sorted(out.values(), key=lambda m: (m.created_at, m.platform_id))

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        """One page of the instance's status search, oldest first. An instance that refuses search (or
        has no full-text search: then its answer is just empty) leaves the replies stage to mentions."""
        if not query.strip():
            raise ValueError("search query is empty")
        try:
            body = self._call(
                "GET /api/v2/search",
                lambda: self.client.search_v2(
                    query, resolve=False, result_type="statuses", exclude_unreviewed=False, limit=PAGE
                ),
                write=False,
            )
        except AuthFailed as exc:
            self._search = False
            log.warning("mastodon.search_refused", error=str(exc))
            return []
        me = self._me.user_id if self._me is not None else None
        found = [
            parse.mention(s, SEARCH)
            for s in parse.statuses(body.get("statuses") if isinstance(body, dict) else None)
            if not (isinstance(s.get("account"), dict) and s["account"].get("id") == me)
        ]
        return sorted((m for m in found if m is not None), key=lambda m: (m.created_at, m.platform_id))

    def rate_limit_state(self) -> dict[str, tuple[int | None, datetime | None]]:
        """endpoint -> (remaining, reset), as the instance's X-RateLimit headers last said."""
        return {endpoint: (w.remaining, w.reset) for endpoint, w in self._limits.windows.items()}

    # -- calls -----------------------------------------------------------------------------------------
    def _post_parts(self, request: PublishRequest, ids: list[str], published_at: datetime) -> PublishReceipt:
        """Post the parts of `request` from len(ids) on, each in reply to the one before."""
        ids = list(ids)
        for i in range(len(ids), len(request.parts)):
            parent = ids[-1] if ids else request.in_reply_to
            try:
                ids.append(self._create(request.parts[i], parent, f"{request.key}/{i + 1}"))
                if i == 0:
                    published_at = self.clock.now()  # later than asked if a rate limit was waited out
            except PlatformError as exc:
                if not ids:
                    raise
                raise PlatformUnavailable(
                    f"mastodon: thread {request.key} partly published: parts 1-{len(ids)} of {len(request.parts)} "
                    f"are out (first {ids[0]}), part {i + 1} failed ({exc}); reconciliation posts the rest"
                ) from None
        return PublishReceipt(platform_id=ids[0], part_ids=tuple(ids), published_at=published_at)

    def _create(self, text: str, reply_to: str | None, key: str) -> str:
        body = self._call(
            "POST /api/v1/statuses",
            lambda: self.client.status_post(text, in_reply_to_id=reply_to, idempotency_key=key),
            write=True,
        )
        sid = body.get("id") if isinstance(body, dict) else None
        if not parse.valid_id(sid):
            raise PlatformUnavailable("mastodon POST /api/v1/statuses: no valid id; the outcome is unknown")
        return str(sid)

    def _me_id(self) -> str:
        if self._me is None:
            self._verify()
        assert self._me is not None
        return self._me.user_id

    def _recent_own_statuses(self) -> list[dict[str, Any]]:
        me = self._me_id()
        found: dict[str, dict[str, Any]] = {}
        max_id: str | None = None
        for _page in range(self.timeline_pages):
            body = self._call(
                "GET /api/v1/accounts/:id/statuses",
                partial(self.client.account_statuses, me, limit=PAGE, max_id=max_id),
                write=False,
            )
            page = parse.statuses(body)
            for status in page:
                if not status.get("reblog"):  # a boost is not a status of ours
                    found.setdefault(status["id"], status)
            if len(page) < PAGE:
                break
            max_id = str(min(page, key=_id_order)["id"])
        return list(found.values())

    # -- the edge --------------------------------------------------------------------------------------
    def _capture(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._seen.response = response

    def _call(self, endpoint: Endpoint, request: Callable[[], object], *, write: bool) -> Any:
        """One HTTP request through Mastodon.py: its JSON body, or a growthloop PlatformError."""
        unknown = "; the outcome is unknown" if write else ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self._wait_for_budget(endpoint)
            self._seen.response = None
            try:
                request()
            except MastodonNetworkError as exc:
                cause = exc.__context__
                what = "timed out" if isinstance(cause, requests.Timeout) else "connection failed"
                raise PlatformUnavailable(
                    f"mastodon {endpoint}: {what} ({type(cause or exc).__name__}){unknown}"
                ) from None
            except MastodonError:
                response: requests.Response | None = getattr(self._seen, "response", None)
                if response is None:
                    raise PlatformError(f"mastodon {endpoint}: Mastodon.py refused the call before sending") from None
                self._limits.update(endpoint, response.headers)
                if response.status_code == 429:
                    now = self.clock.now()
                    until = max(RateLimits.until_after_429(response.headers, now), now)
                    if attempt < MAX_ATTEMPTS and until - now <= self.max_wait:
                        log.warning("mastodon.rate_limited_waiting", endpoint=endpoint, until=until.isoformat())
                        self.clock.sleep_until(until)
                        continue
                    raise RateLimited(until, f"mastodon {endpoint}: 429 Too Many Requests") from None
                if response.ok:  # the body (or a header) could not be read
                    raise self._malformed(endpoint, unknown, response.status_code) from None
                raise translate(response, endpoint, write, self.credentials) from None
            return self._body(endpoint, unknown)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait_for_budget(self, endpoint: str) -> None:
        wait_out(
            self.clock, self._limits.blocked_until(endpoint, self.clock.now()), self.max_wait, "mastodon", endpoint
        )

    def _body(self, endpoint: str, unknown: str) -> Any:
        response: requests.Response | None = getattr(self._seen, "response", None)
        if response is None:
            raise PlatformUnavailable(f"mastodon {endpoint}: Mastodon.py returned without an HTTP response{unknown}")
        self._limits.update(endpoint, response.headers)
        try:
            body = response.json()
        except ValueError:
            raise self._malformed(endpoint, unknown, response.status_code) from None
        if not isinstance(body, dict | list):
            raise self._malformed(endpoint, unknown, response.status_code)
        return body

    @staticmethod
    def _malformed(endpoint: str, unknown: str, status: int) -> PlatformUnavailable:
        return PlatformUnavailable(f"mastodon {endpoint}: {status}: the body is not the JSON expected{unknown}")


def _id_order(status: dict[str, Any]) -> tuple[int, str]:
    """Mastodon's ids grow with time as integers: a longer id is a later one."""
    return (len(status["id"]), status["id"])


__all__ = ["MastodonAccount", "MastodonPlatform"]


if TYPE_CHECKING:

    def _is_a_platform(p: MastodonPlatform) -> Platform:  # mypy checks MastodonPlatform against the port
        return p
