"""Types the X adapter adds to the port's: the authenticated account, and two refusals worth telling apart."""

from __future__ import annotations

from dataclasses import dataclass

from growthloop.errors import AuthFailed, ContentRejected


@dataclass(frozen=True)
class XAccount:
    """The authenticated account, from users/me. A count X did not give is None."""

    user_id: str
    username: str | None
    followers: int | None
    following: int | None
    posts: int | None  # `post_count`, or `tweet_count` under the older name


class ReplyNotAllowed(ContentRejected):
    """X refused a reply because the account was not summoned (mentioned or quoted) by the author."""


class AccessDenied(AuthFailed):
    """The credentials work, but the app's access level (plan) or project does not include the endpoint."""


__all__ = ["AccessDenied", "ReplyNotAllowed", "XAccount"]
