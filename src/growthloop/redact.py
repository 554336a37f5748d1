"""Secrets out of every message that came from outside, before it is cut, logged or stored (I10, docs/design.md#i10).

A server's error message, an exception's text or a webhook's failure may quote a credential back. Every
place such a message can land (the JSON log, doctor's checks, `job_runs.error`, an alert) passes it
through `scrub`, and a message is only ever shortened by `cut` after that: cutting first could split a
secret in two, and the half that survives would no longer match the value being scrubbed.

The secrets are the values the caller knows (credentials it holds) and every GROWTHLOOP_* environment
variable whose name says it is one (KEY, SECRET, TOKEN, PASSWORD, WEBHOOK_URL): those can only come from
the environment or `.env`, never from the settings file. For a URL, its path, query and password are
secrets too (a webhook's token is its path).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

REDACTED = "[redacted]"
MIN_SECRET = 4  # shorter values would blank out ordinary words
_SECRET_NAME = re.compile(r"^GROWTHLOOP_\w*(KEY|SECRET|TOKEN|PASSWORD|WEBHOOK_URL)\w*$", re.IGNORECASE)


def secret_parts(value: str) -> list[str]:
    """The value, and for a URL also the parts that carry its secret (path, query, password)."""
    value = value.strip()
    parts = [value]
    if "://" in value:
        try:
            url = urlsplit(value)
            parts += [url.path, url.query, url.password or ""]
        except ValueError:
            pass
    return [p for p in parts if len(p) >= MIN_SECRET and p.strip("/")]


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    found: list[str] = []
    for name, value in env.items():
        if _SECRET_NAME.match(name) and value.strip():
            found += secret_parts(value)
    return found


def scrub(text: str, secrets: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> str:
    """`text` with every known secret replaced by [redacted], longest first (a secret may contain another)."""
    known = {s for value in secrets if value for s in secret_parts(value)} | set(environment_secrets(environ))
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def cut(text: str, limit: int) -> str:
    """One line of at most `limit` characters. Only for text already scrubbed."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_message(text: str, limit: int, secrets: Iterable[str] = ()) -> str:
    """What may be shown or stored of an outside message: scrubbed, then cut to one line."""
    return cut(scrub(text, secrets), limit)


__all__ = ["REDACTED", "cut", "environment_secrets", "safe_message", "scrub", "secret_parts"]
