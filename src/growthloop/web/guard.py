"""Who may change things through the dashboard, and proof that a request came from its own pages.

- Actions (approve or reject a reply, pause or resume a job) need the token in GROWTHLOOP_WEB_TOKEN. Without
  it they are disabled (the pages say so). A person signs in once by typing the token; the browser then
  holds a cookie bound to its session, never the token itself.
- Every browser gets a random session cookie (HttpOnly, SameSite=Strict). Forms carry a CSRF token derived
  from it with a key that lives only in the server process; a POST is refused unless its token matches its
  session and its Origin (or, lacking that, Referer) is this server.
- Error texts shown on the pages pass through `scrub`: the value of any secret in the environment is masked.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request

SESSION_COOKIE = "growthloop_session"
AUTH_COOKIE = "growthloop_auth"
TOKEN_VARIABLE = "GROWTHLOOP_WEB_TOKEN"
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|KEY|PASSWORD|WEBHOOK)", re.I)


class Refused(Exception):
    """A POST that is not allowed; its message says why (shown on a 403 page)."""


class Guard:
    def __init__(self, action_token: str | None) -> None:
        self.action_token = action_token or None
        self._key = secrets.token_bytes(32)  # per process: restarting the server signs everyone out

    @property
    def actions_enabled(self) -> bool:
        return self.action_token is not None

    def session(self, request: Request) -> tuple[str, bool]:
        """The request's session id, and whether it is new (then the response must set the cookie)."""
        sid = request.cookies.get(SESSION_COOKIE, "")
        if re.fullmatch(r"[A-Za-z0-9_-]{32,64}", sid):
            return sid, False
        return secrets.token_urlsafe(32), True

    def _sign(self, purpose: str, sid: str) -> str:
        return hmac.new(self._key, f"{purpose}:{sid}".encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, sid: str) -> str:
        return self._sign("csrf", sid)

    def auth_cookie(self, sid: str) -> str:
        return self._sign("auth", sid)

    def signed_in(self, request: Request, sid: str) -> bool:
        return self.actions_enabled and hmac.compare_digest(request.cookies.get(AUTH_COOKIE, ""), self.auth_cookie(sid))

    def check_post(self, request: Request, form: Mapping[str, object]) -> str:
        """Refuse a cross-site or forged POST; returns the session id."""
        if not self.actions_enabled:
            raise Refused(f"actions are disabled: start the server with {TOKEN_VARIABLE} set to enable them")
        self.check_origin(request)
        sid = request.cookies.get(SESSION_COOKIE, "")
        sent = form.get("csrf")
        if not sid or not isinstance(sent, str) or not hmac.compare_digest(sent, self.csrf_token(sid)):
            raise Refused("the form's CSRF token does not match this session: reload the page and try again")
        return sid

    def check_token(self, typed: object) -> None:
        if not isinstance(typed, str) or not hmac.compare_digest(
            hashlib.sha256(typed.encode()).digest(), hashlib.sha256((self.action_token or "").encode()).digest()
        ):
            raise Refused(f"wrong token: it must equal {TOKEN_VARIABLE} of the server's environment")

    @staticmethod
    def check_origin(request: Request) -> None:
        here = f"{request.url.scheme}://{request.headers.get('host', '')}"
        origin = request.headers.get("origin")
        if origin is not None:
            if origin != here:
                raise Refused(f"cross-site request refused (Origin {origin[:80]!r} is not this server)")
            return
        referer = request.headers.get("referer")
        if referer is None:
            raise Refused("request refused: it carries neither an Origin nor a Referer header")
        parts = urlsplit(referer)
        if f"{parts.scheme}://{parts.netloc}" != here:
            raise Refused("cross-site request refused (its Referer is not this server)")


def scrub(text: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """Mask the value of every secret-looking environment variable in a text shown on a page."""
    if not text:
        return text
    for name, value in (environ if environ is not None else os.environ).items():
        if len(value) >= 6 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "[secret]")
    return text
