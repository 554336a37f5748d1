"""BlueskyPlatform: the AT Protocol through the `atproto` SDK, as a growthloop Platform (docs/design.md#ports).

The SDK's `Client` makes every request (XRPC URLs, the session's bearer token, its refresh); this adapter
reads the answers as plain JSON (see `parse.py`) and translates failures into growthloop's tree (see
`edge.py`). The client reads the time from the Clock, never the wall clock: it refreshes the session 15
minutes before the access token's expiry by that clock. A token the server calls expired all the same
(`ExpiredToken`) is refreshed and the call made once more; when the refresh token is gone too, the adapter
logs in again with the app password.

Publishing (I3, docs/design.md#i3): each part is an `app.bsky.feed.post` record made with
`com.atproto.repo.createRecord`; a thread's later parts carry reply refs to the thread's root and to the
part before, and a reply's first part to the post it answers (its root read with getPosts). Links, tags
and mentions become facets on UTF-8 byte offsets. A timeout or a lost answer is an unknown outcome
(PlatformUnavailable): before any retry the post stage calls `find_published`, which reads the account's
own recent records (`com.atproto.repo.listRecords`) and completes a thread that was cut short, so a part
is never posted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from atproto_client import Client, models
from atproto_client.exceptions import LoginRequiredError, ModelError, RequestErrorBase
from atproto_client.models.base import ParamsModelBase
from atproto_client.request import Request
from atproto_client.utils.facet_detection import detect_facets, detect_mentions
from atproto_server.exceptions import InvalidTokenError

from growthloop.adapters.platforms.bluesky import parse
from growthloop.adapters.platforms.bluesky.credentials import (
    BlueskyCredentials,
    LoginRefused,
    ServerNotFound,
)
from growthloop.adapters.platforms.bluesky.edge import (
    CREATE,
    RateWindow,
    WriteBudget,
    error_name,
    translate,
    until_after_429,
)
from growthloop.domain import (
    GRAPHEMES,
    MENTION,
    QUOTE,
    SEARCH,
    Capabilities,
    Mention,
    PostMetrics,
    PublishReceipt,
    PublishRequest,
)
from growthloop.errors import AuthFailed, ContentRejected, PlatformError, PlatformUnavailable, RateLimited
from growthloop.ports import Clock, Platform

log = structlog.get_logger("growthloop.bluesky")

DEFAULT_BASE_URL = "https://bsky.social"
DEFAULT_TIMEOUT = 30.0  # seconds per HTTP request
MAX_GRAPHEMES = 300  # app.bsky.feed.post's text limit
GET_POSTS_BATCH = 25  # app.bsky.feed.getPosts takes at most 25 URIs
PAGE = 100  # records, notifications per page
NOTIFICATION_REASONS = {"mention": MENTION, "reply": MENTION, "quote": QUOTE}  # all three summon us


@dataclass(frozen=True)
class BlueskyAccount:
    """The account the session acts for: its DID and handle (`username`, as the doctor prints it)."""

    did: str
    username: str


class _ClockedClient(Client):
    """The SDK's client on growthloop's Clock: it decides when to refresh the session by this time."""

    def __init__(self, clock: Clock, base_url: str, request: Request) -> None:
        self._clock = clock
        super().__init__(base_url, request=request)

    def get_current_time(self) -> datetime:
        return self._clock.now().astimezone(UTC)

    def _should_refresh_session(self) -> bool:
        try:
            return bool(super()._should_refresh_session())
        except (InvalidTokenError, LoginRequiredError):
            return False  # an access token whose expiry cannot be read is used until the server says it expired


class BlueskyPlatform:
    name = "bluesky"

    def __init__(
        self,
        credentials: BlueskyCredentials,
        clock: Clock,
        *,
        base_url: str = DEFAULT_BASE_URL,
        account: str = "default",
        timeout: float = DEFAULT_TIMEOUT,
        search: bool = True,
        search_results: int = 25,
        record_pages: int = 2,
        notification_pages: int = 3,
        budget: WriteBudget | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 1 <= search_results <= 100:
            raise ValueError(f"search_results must be within 1..100 (searchPosts' page size), got {search_results}")
        self.credentials, self.clock, self.account = credentials, clock, account
        self.base_url = base_url.rstrip("/")
        self.search_results, self.record_pages, self.notification_pages = (
            search_results,
            record_pages,
            notification_pages,
        )
        self._search = search
        self.budget = budget or WriteBudget()
        self.windows: dict[str, RateWindow] = {}  # per method: a spent window blocks that method only
        self._did: str | None = None
        self._handle: str | None = None
        self._dids: dict[str, str | None] = {}  # handle -> DID, for mention facets
        request = Request(timeout=timeout, transport=transport) if transport else Request(timeout=timeout)
        self.client = _ClockedClient(clock, self.base_url, request)

    def __repr__(self) -> str:
        return (
            f"BlueskyPlatform(account={self.account!r}, base_url={self.base_url!r}, credentials={self.credentials!r})"
        )

    # -- the port --------------------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        # Bluesky shows likes, reposts, replies, quotes and followers: no impressions, no profile clicks.
        # Its norms: answer who summoned us; a reply found by search waits for a person.
        return Capabilities(
            impressions=False,
            profile_clicks=False,
            unsummoned_replies=False,
            search=self._search,
            max_weighted_length=MAX_GRAPHEMES,
            length_rule=GRAPHEMES,
        )

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        if not request.parts or not all(p.strip() for p in request.parts):
            raise ContentRejected("bluesky: a post or thread part is empty")
        parent = None
        if request.in_reply_to is not None:
            parent = self._reply_target(request.in_reply_to)
        refs: list[dict[str, str]] = []
        published_at = now
        for i, text in enumerate(request.parts):
            reply = _reply_refs(parent, refs)
            try:
                refs.append(self._create(text, reply))
            except PlatformError as exc:
                if not refs:
                    raise
                raise PlatformUnavailable(
                    f"bluesky: thread {request.key} partly published: parts 1-{len(refs)} of {len(request.parts)} "
                    f"are out, part {i + 1} failed ({exc}); reconciliation posts the rest"
                ) from None
            if i == 0:
                published_at = self.clock.now()
        return _receipt(refs, published_at)

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        """The receipt if the first part is among the account's own recent records; a cut thread is completed.

        A post's first part answers nothing, a reply's answers the post replied to; each next part is
        the record with that text answering the part before.
        """
        if not request.parts:
            return None
        records = self._own_records()
        first_parent = None if request.in_reply_to is None else parse.uri_of(request.in_reply_to)

        def matching(text: str, parent: str | None) -> list[dict[str, Any]]:
            return [
                r
                for r in records
                if _same_text(parse.record_text(r.get("value")), text) and parse.reply_parent(r.get("value")) == parent
            ]

        roots = matching(request.parts[0], first_parent)
        if not roots:
            return None
        root = max(roots, key=lambda r: str(r["uri"]))  # record keys sort by time: the newest
        refs = [{"uri": str(root["uri"]), "cid": str(root["cid"])}]
        for text in request.parts[1:]:
            found = matching(text, refs[-1]["uri"])
            if not found:
                break
            nxt = min(found, key=lambda r: str(r["uri"]))
            refs.append({"uri": str(nxt["uri"]), "cid": str(nxt["cid"])})
        value = root.get("value")
        created = parse.parse_time(value.get("createdAt") if isinstance(value, Mapping) else None) or now
        if len(refs) < len(request.parts):
            parent = self._reply_target(request.in_reply_to) if request.in_reply_to is not None else None
            refs = self._complete_thread(request, refs, parent)
        return _receipt(refs, created)

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]:
        """Likes, reposts, replies and quotes of every post the AppView still has (deleted ones are left out)."""
        wanted = list(dict.fromkeys(platform_ids))
        uris = {pid: parse.uri_of(pid) for pid in wanted}
        invalid = [pid for pid, uri in uris.items() if uri is None]
        if invalid:
            log.warning("bluesky.metrics_invalid_ids", count=len(invalid), example=invalid[0][:64])
        valid = [uri for uri in uris.values() if uri is not None]
        found: dict[str, PostMetrics] = {}
        for start in range(0, len(valid), GET_POSTS_BATCH):
            for view in self._get_posts(valid[start : start + GET_POSTS_BATCH]):
                m = parse.post_metrics(view)
                if m is not None:
                    found[m.platform_id] = m
        return [found[pid] for pid in wanted if pid in found]

    def follower_count(self, now: datetime) -> int:
        body = self._call(
            "app.bsky.actor.getProfile", params=models.AppBskyActorGetProfile.Params(actor=self._session_did())
        )
        followers = parse.count(body.get("followersCount"))
        if followers is None:
            raise PlatformError("bluesky: getProfile gave no valid followersCount: no follower count observed")
        return followers

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        """Mentions of the account, replies to it and quotes of it after `since` (notifications), oldest first."""
        me = self._session_did()
        out: dict[str, Mention] = {}
        cursor: str | None = None
        for _page in range(self.notification_pages):
            params = models.AppBskyNotificationListNotifications.Params(
                limit=PAGE, reasons=sorted(NOTIFICATION_REASONS), cursor=cursor
            )
            body = self._call("app.bsky.notification.listNotifications", params=params)
            older = False
            for note in parse.items(body, "notifications"):
                kind = NOTIFICATION_REASONS.get(str(note.get("reason")))
                m = parse.mention(note, kind) if kind else None
                if m is None or parse.author_did(note) == me:
                    continue
                if m.created_at <= since:
                    older = True
                elif m.created_at <= now:
                    out.setdefault(m.platform_id, m)
            cursor = body.get("cursor") if isinstance(body.get("cursor"), str) else None
            if older or not cursor:
                break
        return sorted(out.values(), key=lambda m: (m.created_at, m.platform_id))

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        """One page of searchPosts (the newest first from the server), oldest first; the account's own left out."""
        if not query.strip():
            raise ValueError("search query is empty")
        me = self._session_did()
        try:
            body = self._call(
                "app.bsky.feed.searchPosts",
                params=models.AppBskyFeedSearchPosts.Params(q=query, sort="latest", limit=self.search_results),
            )
        except PlatformError as exc:
            if "MethodNotImplemented" not in str(exc) and " 501" not in str(exc):
                raise
            self._search = False  # this server does not search: replies live on notifications
            log.warning("bluesky.search_not_served", error=str(exc))
            return []
        found = (parse.mention(v, SEARCH) for v in parse.items(body, "posts") if parse.author_did(v) != me)
        return sorted((m for m in found if m is not None), key=lambda m: (m.created_at, m.platform_id))

    # -- beyond the port: logging in, the doctor's check, a reply shortcut ------------------------------
    def connect(self) -> BlueskyAccount:
        """Log in once at start: a refused password or a base URL where no XRPC server answers is a
        configuration error naming the variable or the setting (exit 2), not a failed job."""
        try:
            return self._login()
        except RateLimited:
            raise
        except AuthFailed as exc:
            raise LoginRefused(f"{exc}", self.credentials.variables) from None
        except PlatformUnavailable as exc:
            raise ServerNotFound(self.base_url, f"no AT Protocol server answered ({exc})") from None
        except PlatformError as exc:
            raise ServerNotFound(self.base_url, f"not an AT Protocol server ({exc})") from None

    def check_credentials(self, now: datetime) -> BlueskyAccount:
        """One harmless call: createSession (when not logged in yet), which is what checks an app password."""
        if self._did is None or self._handle is None:
            return self._login()
        return BlueskyAccount(self._did, self._handle)

    def reply(self, in_reply_to_id: str, text: str, now: datetime, key: str = "reply") -> PublishReceipt:
        return self.publish(PublishRequest(key=key, parts=(text,), in_reply_to=in_reply_to_id), now)

    # -- calls -----------------------------------------------------------------------------------------
    def _login(self) -> BlueskyAccount:
        try:
            self.client.login(self.credentials.handle, self.credentials.app_password, fetch_bsky_profile=False)
        except RequestErrorBase as exc:
            response = exc.response
            if response is None:
                raise PlatformUnavailable(f"bluesky createSession: {_transport_failure(exc)}") from None
            if response.status_code == 429:
                until = until_after_429(response.headers, self.clock.now())
                raise RateLimited(until, "bluesky createSession: 429") from None
            if response.status_code in (400, 401) and error_name(response.content)[0] in (
                "AuthenticationRequired",
                "AuthFactorTokenRequired",
                "AccountTakedown",
                "InvalidRequest",
            ):
                raise AuthFailed(self._refused(response.status_code, response.content)) from None
            raise translate(
                response.status_code, response.content, "createSession", False, self.credentials.scrub
            ) from None
        except (ModelError, ValueError) as exc:
            raise PlatformUnavailable(
                f"bluesky createSession: the answer is not a session ({type(exc).__name__})"
            ) from None
        session = self.client._session  # the SDK keeps it; the DID is what records are written under
        if session is None or not session.did.startswith("did:"):
            raise PlatformError("bluesky createSession: the session has no valid DID")
        self._did, self._handle = session.did, session.handle
        log.info("bluesky.logged_in", handle=session.handle)
        return BlueskyAccount(session.did, session.handle)

    def _refused(self, status: int, content: Any) -> str:
        error, message = error_name(content)
        detail = self.credentials.scrub(" ".join(f"{error} {message}".split()))
        handle, password = self.credentials.variables
        return (
            f"bluesky createSession: {status} {detail}: the handle in {handle} and the app password in "
            f"{password} were not accepted (mistyped, or the app password revoked?)"
        )

    def _session_did(self) -> str:
        if self._did is None:
            self._login()
        assert self._did is not None
        return self._did

    def _renew(self) -> None:
        """After ExpiredToken: refresh the session, or log in again when the refresh token is refused too."""
        try:
            self.client._refresh_and_set_session()
            log.info("bluesky.session_refreshed")
            return
        except (RequestErrorBase, LoginRequiredError, ModelError, ValueError) as exc:
            log.info("bluesky.refresh_refused", error=type(exc).__name__)
        self._login()

    def _call(
        self,
        nsid: str,
        *,
        params: ParamsModelBase | None = None,
        data: Any = None,
        write: bool = False,
    ) -> dict[str, Any]:
        """One XRPC call through the SDK: its JSON object, or a growthloop PlatformError."""
        endpoint = nsid.rsplit(".", 1)[-1]
        unknown = "; the outcome is unknown" if write else ""
        if self._did is None:
            self._login()
        window = self.windows.setdefault(nsid, RateWindow())
        for attempt in (1, 2):
            now = self.clock.now()
            blocked = window.blocked_until(now)
            if blocked is not None:
                raise RateLimited(blocked, f"bluesky {endpoint}: the rate-limit window is spent")
            try:
                if write:
                    response = self.client.invoke_procedure(nsid, data=data, input_encoding="application/json")
                else:
                    response = self.client.invoke_query(nsid, params=params)
            except RequestErrorBase as exc:
                answer = exc.response
                if answer is None:
                    raise PlatformUnavailable(f"bluesky {endpoint}: {_transport_failure(exc)}{unknown}") from None
                window.update(answer.headers)
                if answer.status_code == 429:
                    until = until_after_429(answer.headers, self.clock.now())
                    raise RateLimited(until, f"bluesky {endpoint}: 429 Too Many Requests") from None
                if error_name(answer.content)[0] == "ExpiredToken" and attempt == 1:
                    self._renew()
                    continue
                raise translate(answer.status_code, answer.content, endpoint, write, self.credentials.scrub) from None
            except ValueError:  # the body said JSON and was not
                raise PlatformUnavailable(f"bluesky {endpoint}: the body is not JSON{unknown}") from None
            window.update(response.headers)
            if not isinstance(response.content, dict):
                raise PlatformUnavailable(
                    f"bluesky {endpoint}: {response.status_code}: the body is not a JSON object{unknown}"
                )
            return response.content
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _create(self, text: str, reply: dict[str, dict[str, str]] | None) -> dict[str, str]:
        """Create one post record: its strong ref (uri, cid)."""
        record = models.AppBskyFeedPost.Record(
            text=text,
            created_at=self.clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
            facets=self._facets(text) or None,
            reply=models.AppBskyFeedPost.ReplyRef.model_validate(reply) if reply else None,
        )
        data = models.ComAtprotoRepoCreateRecord.Data(repo=self._session_did(), collection=parse.POST, record=record)
        at = self.clock.now()
        self.budget.reserve(CREATE, at)
        try:
            body = self._call("com.atproto.repo.createRecord", data=data, write=True)
        except (ContentRejected, AuthFailed, RateLimited):
            self.budget.refund(CREATE, at)  # refused before it took effect
            raise
        ref = parse.strong_ref(body)
        if ref is None:
            raise PlatformUnavailable(
                "bluesky createRecord: answered without a post's uri and cid; the outcome is unknown"
            )
        return ref

    def _complete_thread(
        self, request: PublishRequest, refs: list[dict[str, str]], parent: dict[str, dict[str, str]] | None
    ) -> list[dict[str, str]]:
        """Post the parts of a cut thread that are not out yet (the records were just read)."""
        refs = list(refs)
        for i in range(len(refs), len(request.parts)):
            try:
                refs.append(self._create(request.parts[i], _reply_refs(parent, refs)))
            except ContentRejected as exc:
                log.warning("bluesky.thread_completion_rejected", key=request.key, part=i + 1, error=str(exc))
                break
            log.info("bluesky.thread_completed_part", key=request.key, part=i + 1, platform_id=refs[-1]["uri"])
        return refs

    def _reply_target(self, pid: str) -> dict[str, dict[str, str]]:
        """The root and parent refs of a reply to `pid`, from the post's view (its cid and its thread's root)."""
        uri = parse.uri_of(pid)
        if uri is None:
            raise ContentRejected(f"bluesky: cannot reply to {pid!r}: not a Bluesky post id")
        views = self._get_posts([uri])
        view = next((v for v in views if v.get("uri") == uri), None)
        parent = parse.strong_ref(view) if view else None
        root = parse.reply_root(view) if view else None
        if parent is None or root is None:
            raise ContentRejected(f"bluesky: cannot reply to {pid}: the post is gone or was not returned")
        return {"root": root, "parent": parent}

    def _get_posts(self, uris: list[str]) -> list[dict[str, Any]]:
        return parse.items(
            self._call("app.bsky.feed.getPosts", params=models.AppBskyFeedGetPosts.Params(uris=uris)), "posts"
        )

    def _own_records(self) -> list[dict[str, Any]]:
        """The account's latest post records (up to `record_pages` pages of 100), newest first."""
        did = self._session_did()
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _page in range(self.record_pages):
            params = models.ComAtprotoRepoListRecords.Params(repo=did, collection=parse.POST, limit=PAGE, cursor=cursor)
            body = self._call("com.atproto.repo.listRecords", params=params)
            found += [
                r for r in parse.items(body, "records") if parse.strong_ref(r) and isinstance(r.get("value"), dict)
            ]
            cursor = body.get("cursor") if isinstance(body.get("cursor"), str) else None
            if not cursor:
                break
        return found

    def _facets(self, text: str) -> list[models.AppBskyRichtextFacet.Main]:
        """Links and tags (found by the SDK, on UTF-8 byte offsets), and mentions of handles that resolve."""
        facets = list(detect_facets(text))
        for found in detect_mentions(text):
            handle = found.handle.lower()
            if handle not in self._dids:
                try:
                    body = self._call(
                        "com.atproto.identity.resolveHandle",
                        params=models.ComAtprotoIdentityResolveHandle.Params(handle=handle),
                    )
                    did = body.get("did")
                    self._dids[handle] = did if isinstance(did, str) and did.startswith("did:") else None
                except (ContentRejected, PlatformError) as exc:
                    if isinstance(exc, (AuthFailed, RateLimited, PlatformUnavailable)):
                        raise
                    self._dids[handle] = None  # a handle that does not resolve stays plain text
            did = self._dids[handle]
            if did is not None:
                facets.append(
                    models.AppBskyRichtextFacet.Main(
                        features=[models.AppBskyRichtextFacet.Mention(did=did)],
                        index=models.AppBskyRichtextFacet.ByteSlice(
                            byte_start=found.byte_start, byte_end=found.byte_end
                        ),
                    )
                )
        return sorted(facets, key=lambda f: f.index.byte_start)


def _reply_refs(
    parent: dict[str, dict[str, str]] | None, refs: list[dict[str, str]]
) -> dict[str, dict[str, str]] | None:
    """The reply refs of the next part: after the first part, the thread's root and the part before."""
    if refs:
        root = parent["root"] if parent else refs[0]
        return {"root": root, "parent": refs[-1]}
    return parent


def _receipt(refs: list[dict[str, str]], published_at: datetime) -> PublishReceipt:
    ids = tuple(parse.post_id(r["uri"]) or r["uri"] for r in refs)
    return PublishReceipt(platform_id=ids[0], part_ids=ids, published_at=published_at)


def _same_text(stored: str | None, wanted: str) -> bool:
    return stored is not None and " ".join(stored.split()) == " ".join(wanted.split())


def _transport_failure(exc: RequestErrorBase) -> str:
    cause = exc.__cause__
    if isinstance(cause, httpx.TimeoutException) or "Timeout" in type(exc).__name__:
        return f"timed out ({type(cause).__name__ if cause else type(exc).__name__})"
    return f"connection failed ({type(cause).__name__ if cause else type(exc).__name__})"


__all__ = ["DEFAULT_BASE_URL", "BlueskyAccount", "BlueskyPlatform"]


if TYPE_CHECKING:

    def _is_a_platform(p: BlueskyPlatform) -> Platform:  # mypy checks BlueskyPlatform against the port
        return p
