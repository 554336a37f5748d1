"""Pricing of the X adapter's own HTTP calls (it reports each answered call: endpoint, JSON body, request).

X bills a read per resource returned (the posts in `data`, the users in `includes.users`) and a write per
request; a failed request is not billed (X's Usage and Billing page, "Do failed requests count?").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from growthloop.adapters.metering.portcalls import ME, create_category
from growthloop.adapters.metering.usage import Call
from growthloop.domain import PublishRequest

# endpoint -> price category of the posts it returns
POST_CATEGORY = {
    "GET /2/tweets": "post_read",
    "GET /2/tweets/search/recent": "post_read",
    "GET /2/users/:id/tweets": "owned_read",  # the account's own posts (X's Owned Reads)
    "GET /2/users/:id/mentions": "owned_read",  # the account's mentions (X's Owned Reads)
}
PURPOSE = {
    "publish": None,
    "reconcile": "reconcile",
    "metrics": "metrics",
    "followers": "followers",
    "mentions": "mentions",
    "search": "search",
    "usage": "usage",
    "check": "check",
}

RawCall = tuple[str, Mapping[str, Any], Mapping[str, Any]]  # endpoint, body, what was sent


def _ids(items: Any, prefix: str) -> tuple[str, ...]:
    if not isinstance(items, list):
        items = [items] if isinstance(items, dict) else []
    return tuple(dict.fromkeys(f"{prefix}:{i['id']}" for i in items if isinstance(i, dict) and i.get("id")))


def priced(raw: Iterable[RawCall], op: str, request: PublishRequest | None) -> list[Call]:
    out: list[Call] = []
    default = "reply" if request is not None and request.in_reply_to else "post"
    purpose = PURPOSE.get(op) or default
    for endpoint, body, sent in raw:
        if endpoint == "POST /2/tweets":
            reply_to = sent.get("reply_to")
            summoned = request is not None and request.in_reply_to is not None and reply_to == request.in_reply_to
            out.append(Call(endpoint, create_category(str(sent.get("text", "")), summoned), default))
        elif endpoint == "GET /2/users/me":
            out.append(Call(endpoint, "user_read", purpose, (ME,) if body.get("data") else ()))
        elif endpoint == "GET /2/usage/tweets":
            out.append(Call(endpoint, "usage_read", "usage"))
        elif endpoint in POST_CATEGORY:
            out.append(Call(endpoint, POST_CATEGORY[endpoint], purpose, _ids(body.get("data"), "post")))
            includes = body.get("includes")
            users = _ids(includes.get("users"), "user") if isinstance(includes, dict) else ()
            if users:
                out.append(Call(endpoint, "user_read", purpose, users))
    return out
