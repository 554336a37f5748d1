"""Raw X API v2 bodies -> growthloop types, tolerant of both generations of field names.

The adapter reads the JSON body itself rather than the SDK's models: xdk's models follow the spec of the
day and *require* the new names (`repost_count`, `post_count`), so a body that still carries the old ones
(`retweet_count`, `tweet_count`) would fail validation. Here both are read, and a counter that is absent
or not a non-negative integer is None: never a made-up number (I2, docs/design.md#i2).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from twitter_text import extract_urls_with_indices

from growthloop.adapters.platforms.x.models import XAccount
from growthloop.domain import Mention, PostMetrics

log = structlog.get_logger("growthloop.x")

ID = re.compile(r"^[0-9]{1,19}$")  # the spec's PostId and UserId
_TWITTER_EPOCH_MS = 1288834974657  # snowflake ids carry their creation time since 2010-11-04
_SNOWFLAKE_START = datetime(2010, 11, 4, tzinfo=UTC)
_SCHEME_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_URL_MARK = " \u0000url\u0000 "


def valid_id(value: object) -> bool:
    return isinstance(value, str) and ID.match(value) is not None


def created_from_id(platform_id: str) -> datetime | None:
    """When a post was created, from its snowflake id; None when the id does not carry a time."""
    if not valid_id(platform_id):
        return None
    created = datetime.fromtimestamp(((int(platform_id) >> 22) + _TWITTER_EPOCH_MS) / 1000, UTC)
    return created if created >= _SNOWFLAKE_START else None


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def count(block: object, *names: str, post_id: str = "?") -> int | None:
    """The first of `names` present in `block`, when it is a non-negative integer; else None."""
    if not isinstance(block, Mapping):
        return None
    for name in names:
        if name in block:
            value = block[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                log.warning("x.invalid_counter", post_id=post_id, field=name, value=repr(value)[:40])
                return None
            return value
    return None


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def post_metrics(post: Mapping[str, Any]) -> PostMetrics:
    """public_metrics, then non_public_metrics and organic_metrics (when X gave them) -> PostMetrics."""
    pid = str(post.get("id"))
    public = post.get("public_metrics")
    private = post.get("non_public_metrics")
    organic = post.get("organic_metrics")

    def c(block: object, *names: str) -> int | None:
        return count(block, *names, post_id=pid)

    return PostMetrics(
        platform_id=pid,
        impressions=_first(c(public, "impression_count"), c(private, "impression_count")),
        likes=c(public, "like_count"),
        reposts=c(public, "repost_count", "retweet_count"),
        replies=c(public, "reply_count"),
        quotes=c(public, "quote_count"),
        bookmarks=c(public, "bookmark_count"),
        profile_clicks=_first(c(private, "user_profile_clicks"), c(organic, "user_profile_clicks")),
        link_clicks=_first(c(private, "url_link_clicks"), c(organic, "url_link_clicks")),
    )


def posts(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `data` list of a body, keeping only objects with a string id and text."""
    data = body.get("data")
    if not isinstance(data, list):
        return []
    return [p for p in data if isinstance(p, dict) and isinstance(p.get("id"), str) and isinstance(p.get("text"), str)]


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def users_by_id(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """includes.users of a body, by id (the authors, when expansions=author_id was asked for)."""
    includes = body.get("includes")
    users = includes.get("users") if isinstance(includes, Mapping) else None
    if not isinstance(users, list):
        return {}
    return {u["id"]: u for u in users if isinstance(u, Mapping) and isinstance(u.get("id"), str)}


def mention(post: Mapping[str, Any], kind: str, users: Mapping[str, Mapping[str, Any]]) -> Mention | None:
    """A post by someone else -> Mention; None without a creation time (neither given nor in the id)."""
    pid = str(post["id"])
    created = parse_time(post.get("created_at")) or created_from_id(pid)
    if created is None:
        log.warning("x.post_without_time", post_id=pid[:40])
        return None
    author_id = _opt_str(post.get("author_id"))
    author = users.get(author_id, {}) if author_id else {}
    metrics = post.get("public_metrics")
    return Mention(
        platform_id=pid,
        kind=kind,
        author=_opt_str(author.get("username")) or author_id or "unknown",
        author_followers=count(author.get("public_metrics"), "followers_count", post_id=f"user {author_id}"),
        text=html.unescape(str(post["text"])),
        created_at=created,
        likes=count(metrics, "like_count", post_id=pid),
        reposts=count(metrics, "repost_count", "retweet_count", post_id=pid),
        replies=count(metrics, "reply_count", post_id=pid),
    )


def account(body: Mapping[str, Any]) -> XAccount | None:
    """users/me -> XAccount; None when the body has no user with a valid id."""
    data = body.get("data")
    if not isinstance(data, Mapping) or not valid_id(data.get("id")):
        return None
    uid = str(data["id"])
    metrics = data.get("public_metrics")
    return XAccount(
        user_id=uid,
        username=_opt_str(data.get("username")),
        followers=count(metrics, "followers_count", post_id=f"user {uid}"),
        following=count(metrics, "following_count", post_id=f"user {uid}"),
        posts=count(metrics, "post_count", "tweet_count", post_id=f"user {uid}"),
    )


def next_token(body: Mapping[str, Any]) -> str | None:
    meta = body.get("meta")
    token = meta.get("next_token") if isinstance(meta, Mapping) else None
    return token if isinstance(token, str) and token else None


def problem(body: object) -> dict[str, str]:
    """title, detail, type and reason of an error body (a Problem, or the first of its `errors`)."""
    if not isinstance(body, Mapping):
        return {}
    source: Mapping[str, Any] = body
    errors = body.get("errors")
    if not any(k in body for k in ("title", "detail")) and isinstance(errors, list) and errors:
        first = errors[0]
        source = first if isinstance(first, Mapping) else {}
    out = {k: str(source[k]) for k in ("title", "detail", "type", "reason", "message") if source.get(k) is not None}
    return out


def normalize(text: str) -> str:
    """A post's text as X stores it and as we sent it compare equal after this.

    X returns text HTML-escaped, may re-normalise Unicode and whitespace, and replaces every link
    (bare domains included, by the twitter-text rules) with a t.co link.
    """
    t = unicodedata.normalize("NFC", html.unescape(text))
    urls = sorted({u["url"] for u in extract_urls_with_indices(t)}, key=len, reverse=True)
    for url in urls:
        t = t.replace(url, _URL_MARK)
    t = _SCHEME_URL.sub(_URL_MARK, t)
    return " ".join(t.split())


def young_enough(platform_id: str, now: datetime, limit: timedelta) -> bool:
    created = created_from_id(platform_id)
    return created is not None and now - created < limit
