"""Raw Mastodon JSON -> growthloop types. Anything missing or of the wrong type is left out or None,
never replaced by a plausible value."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from growthloop.domain import Mention, PostMetrics

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARAGRAPH = re.compile(r"</p>\s*<p[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_REMOTE_MENTION = re.compile(r"(?<![\w/=])@(\w+)@[\w.-]+\w")


def text_of(content: object) -> str:
    """A status's HTML `content` as plain text: paragraphs and line breaks kept, links as their text."""
    if not isinstance(content, str):
        return ""
    text = _PARAGRAPH.sub("\n\n", content)
    text = _BREAK.sub("\n", text)
    return html.unescape(_TAG.sub("", text)).strip()


def normalize(text: str) -> str:
    """For comparing what we posted with what the instance shows: whitespace collapsed, and @user@domain as
    @user (Mastodon's HTML shows a mention by its local name only)."""
    return " ".join(_REMOTE_MENTION.sub(r"@\1", text).split())


def valid_id(value: object) -> bool:
    """Mastodon's ids are strings, "cast from an integer, but not guaranteed to be a number": any short
    printable string that can stand in a URL path is one."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 100
        and value.isprintable()
        and value.strip() == value
        and not any(c in value for c in "/?#%")
    )


def count(obj: Mapping[str, Any] | None, name: str) -> int | None:
    value = obj.get(name) if isinstance(obj, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def statuses(body: object) -> list[dict[str, Any]]:
    """The statuses of a list body that carry a valid id."""
    items = body if isinstance(body, list) else []
    return [s for s in items if isinstance(s, dict) and valid_id(s.get("id"))]


def post_metrics(status: Mapping[str, Any]) -> PostMetrics:
    """Mastodon shows favourites, reblogs, replies and (from 4.5) quotes; never impressions or clicks."""
    return PostMetrics(
        platform_id=str(status["id"]),
        impressions=None,
        likes=count(status, "favourites_count"),
        reposts=count(status, "reblogs_count"),
        replies=count(status, "replies_count"),
        quotes=count(status, "quotes_count"),
        bookmarks=None,
        profile_clicks=None,
        link_clicks=None,
    )


def mention(status: object, kind: str) -> Mention | None:
    """A status by someone else as a reply opportunity, or None when it lacks an id, author or time."""
    if not isinstance(status, Mapping) or not valid_id(status.get("id")):
        return None
    account = status.get("account")
    author = account.get("acct") if isinstance(account, Mapping) else None
    created = parse_time(status.get("created_at"))
    if not isinstance(author, str) or not author or created is None:
        return None
    return Mention(
        platform_id=str(status["id"]),
        kind=kind,
        author=author,
        author_followers=count(account if isinstance(account, Mapping) else None, "followers_count"),
        text=text_of(status.get("content")),
        created_at=created,
        likes=count(status, "favourites_count"),
        reposts=count(status, "reblogs_count"),
        replies=count(status, "replies_count"),
    )


__all__ = ["count", "mention", "normalize", "parse_time", "post_metrics", "statuses", "text_of", "valid_id"]
