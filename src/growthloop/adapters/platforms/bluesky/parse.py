"""Raw XRPC bodies -> growthloop types, and the ids growthloop keeps for Bluesky posts.

A post's id in growthloop is `DID/RKEY` (for example `did:plc:abc.../3kq2x...`), the two parts of its AT-URI
`at://DID/app.bsky.feed.post/RKEY` that vary: the whole URI of a did:plc post is 68 characters, more than
the 64 the store keeps for a platform id. Bodies are read as plain JSON, never through the SDK's models,
so that a field the lexicon added or a server left out costs one value, not the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from growthloop.domain import Mention, PostMetrics

POST = "app.bsky.feed.post"
_PREFIX = "at://"
_MAX_ID = 64


def post_id(uri: Any) -> str | None:
    """`at://DID/app.bsky.feed.post/RKEY` -> `DID/RKEY`, or None for anything else."""
    if not isinstance(uri, str) or not uri.startswith(_PREFIX):
        return None
    parts = uri[len(_PREFIX) :].split("/")
    if len(parts) != 3 or parts[1] != POST or not parts[0].startswith("did:") or not parts[2]:
        return None
    pid = f"{parts[0]}/{parts[2]}"
    return pid if len(pid) <= _MAX_ID else None


def uri_of(pid: str) -> str | None:
    """`DID/RKEY` (or a post's full AT-URI) -> its AT-URI, or None when it is neither."""
    if pid.startswith(_PREFIX):
        return pid if post_id(pid) else None
    did, _, rkey = pid.partition("/")
    if not did.startswith("did:") or not rkey or "/" in rkey:
        return None
    return f"{_PREFIX}{did}/{POST}/{rkey}"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def count(value: Any) -> int | None:
    """A counter the server gave, or None: a missing, negative or non-integer value was not observed."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def items(body: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    found = body.get(key)
    return [x for x in found if isinstance(x, dict)] if isinstance(found, list) else []


def record_text(record: Any) -> str | None:
    text = record.get("text") if isinstance(record, Mapping) else None
    return text if isinstance(text, str) else None


def reply_parent(record: Any) -> str | None:
    """The AT-URI a post record answers, or None for a post that starts its own thread."""
    reply = record.get("reply") if isinstance(record, Mapping) else None
    parent = reply.get("parent") if isinstance(reply, Mapping) else None
    uri = parent.get("uri") if isinstance(parent, Mapping) else None
    return uri if isinstance(uri, str) else None


def strong_ref(view: Mapping[str, Any]) -> dict[str, str] | None:
    uri, cid = view.get("uri"), view.get("cid")
    return {"uri": uri, "cid": cid} if isinstance(uri, str) and isinstance(cid, str) and post_id(uri) else None


def reply_root(view: Mapping[str, Any]) -> dict[str, str] | None:
    """The root of the thread a post view belongs to: its record's reply root, or the post itself."""
    record = view.get("record")
    reply = record.get("reply") if isinstance(record, Mapping) else None
    root = reply.get("root") if isinstance(reply, Mapping) else None
    if isinstance(root, Mapping):
        return strong_ref(root)
    return strong_ref(view)


def post_metrics(view: Mapping[str, Any]) -> PostMetrics | None:
    """A post view's counters. Bluesky shows no impressions and no clicks: those are None, never 0."""
    pid = post_id(view.get("uri"))
    if pid is None:
        return None
    return PostMetrics(
        platform_id=pid,
        impressions=None,
        likes=count(view.get("likeCount")),
        reposts=count(view.get("repostCount")),
        replies=count(view.get("replyCount")),
        quotes=count(view.get("quoteCount")),
        bookmarks=count(view.get("bookmarkCount")),
        profile_clicks=None,
        link_clicks=None,
    )


def author_name(view: Mapping[str, Any]) -> str | None:
    author = view.get("author")
    if not isinstance(author, Mapping):
        return None
    handle, did = author.get("handle"), author.get("did")
    return handle if isinstance(handle, str) and handle else did if isinstance(did, str) and did else None


def author_did(view: Mapping[str, Any]) -> str | None:
    author = view.get("author")
    did = author.get("did") if isinstance(author, Mapping) else None
    return did if isinstance(did, str) else None


def mention(view: Mapping[str, Any], kind: str) -> Mention | None:
    """A post view or a notification as a reply opportunity, or None when it lacks what a reply needs."""
    pid, author = post_id(view.get("uri")), author_name(view)
    record = view.get("record")
    text = record_text(record)
    created = parse_time(record.get("createdAt") if isinstance(record, Mapping) else None)
    created = created or parse_time(view.get("indexedAt"))
    if pid is None or author is None or text is None or created is None:
        return None
    author_view = view.get("author")
    followers = author_view.get("followersCount") if isinstance(author_view, Mapping) else None
    return Mention(
        platform_id=pid,
        kind=kind,
        author=author,
        author_followers=count(followers),
        text=text,
        created_at=created,
        likes=count(view.get("likeCount")),
        reposts=count(view.get("repostCount")),
        replies=count(view.get("replyCount")),
    )


__all__ = [
    "POST",
    "author_did",
    "count",
    "items",
    "mention",
    "parse_time",
    "post_id",
    "post_metrics",
    "record_text",
    "reply_parent",
    "reply_root",
    "strong_ref",
    "uri_of",
]
