"""Pricing at the port, for adapters that do not report their HTTP calls (the simulator, Mastodon, Bluesky).

Each port operation is priced as X charges the calls its adapter makes for it (adapters/platforms/x):

    publish          POST /2/tweets per part: with a URL (Post: Create with URL), a reply to someone else
                     (Post: Create, summoned: growthloop answers only where it was summoned), else Post: Create
    find_published   GET /2/users/:id/tweets, owned: the parts found
    metrics          posts younger than `spend.owned_window_hours`: GET /2/users/:id/tweets (owned);
                     older ones GET /2/tweets (Posts: Read); per post returned
    follower_count   GET /2/users/me: one User: Read (the account itself, once a UTC day)
    mentions         GET /2/users/:id/mentions, owned, per post; the expanded authors as User: Read
    search_recent    GET /2/tweets/search/recent: Posts: Read per post; the expanded authors as User: Read
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any

from growthloop.adapters.metering.usage import Call
from growthloop.domain import Mention, PostMetrics, PublishReceipt, PublishRequest
from growthloop.text import has_url as _has_url

ME = "user:me"


# A write is priced twice: before the call (the budget's check) and after it.
has_url = lru_cache(maxsize=1024)(_has_url)


def create_category(text: str, summoned: bool) -> str:
    if has_url(text):
        return "post_create_url"
    return "post_create_summoned" if summoned else "post_create"


def publish(request: PublishRequest, parts: int, purpose: str | None = None) -> list[Call]:
    """The creates of the first `parts` parts of `request`."""
    why = purpose or ("reply" if request.in_reply_to else "post")
    return [
        Call("POST /2/tweets", create_category(text, i == 0 and request.in_reply_to is not None), why)
        for i, text in enumerate(request.parts[:parts])
    ]


SEARCHES = {
    "mentions": ("GET /2/users/:id/mentions", "owned_read"),
    "search": ("GET /2/tweets/search/recent", "post_read"),
}


def _authors(mentions: Sequence[Mention]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"user:@{m.author.lower()}" for m in mentions))


def priced(op: str, result: Any, context: dict[str, Any], owned_window: timedelta) -> list[Call]:
    if result is None:
        return []  # a failed call is not billed
    if op == "publish":
        assert isinstance(result, PublishReceipt)
        return publish(context["request"], len(result.part_ids) or 1)
    if op == "reconcile":
        assert isinstance(result, PublishReceipt)
        return [Call("GET /2/users/:id/tweets", "owned_read", "reconcile", tuple(f"post:{p}" for p in result.part_ids))]
    if op == "metrics":
        ages: dict[str, timedelta] = context.get("ages", {})
        metrics: list[PostMetrics] = result
        owned = tuple(f"post:{m.platform_id}" for m in metrics if ages.get(m.platform_id, owned_window) < owned_window)
        other = tuple(f"post:{m.platform_id}" for m in metrics if f"post:{m.platform_id}" not in owned)
        calls = []
        if owned:
            calls.append(Call("GET /2/users/:id/tweets", "owned_read", "metrics", owned))
        if other:
            calls.append(Call("GET /2/tweets", "post_read", "metrics", other))
        return calls
    if op == "followers":
        return [Call("GET /2/users/me", "user_read", "followers", (ME,))]
    if op in ("mentions", "search"):
        found: list[Mention] = result
        endpoint, category = SEARCHES[op]
        calls = [Call(endpoint, category, op, tuple(f"post:{m.platform_id}" for m in found))]
        if found:  # the authors come expanded with the posts: User: Read
            calls.append(Call(endpoint, "user_read", op, _authors(found)))
        return calls
    raise ValueError(f"no price model for the port operation {op!r}")
