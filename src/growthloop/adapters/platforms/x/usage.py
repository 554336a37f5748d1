"""X's usage endpoint through xdk, with an app-only Bearer Token; the answer is read by spend/x_usage.py."""

from __future__ import annotations

from collections.abc import Callable

import requests

from growthloop.errors import PlatformError
from growthloop.spend.x_usage import APP_BEARER, USAGE_FIELDS, XUsage, parse_usage


def read_usage(
    base_url: str,
    token: str,
    days: int = 7,
    timeout: float = 30.0,
    session_setup: Callable[[requests.Session], None] | None = None,
) -> XUsage:
    """X's daily Post consumption over the last `days` days (1 to 90)."""
    import xdk

    from growthloop.adapters.platforms.x.edge import TimeoutAdapter

    client = xdk.Client(base_url=base_url.rstrip("/"), bearer_token=token)
    seen: list[requests.Response] = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
    for prefix in ("https://", "http://"):
        client.session.mount(prefix, TimeoutAdapter(timeout))
    if session_setup is not None:
        session_setup(client.session)
    try:
        client.usage.get(days=days, usage_fields=USAGE_FIELDS)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        hint = {401: f"the app-only Bearer Token in {APP_BEARER} was refused", 403: "the X app's plan lacks it"}
        raise PlatformError(f"X GET /2/usage/tweets: {status}: {hint.get(status or 0, 'refused')}") from None
    except requests.RequestException as exc:
        raise PlatformError(f"X GET /2/usage/tweets: {type(exc).__name__}") from None
    except Exception:  # noqa: BLE001  the SDK's model may refuse a body: it is read raw below
        pass
    if not seen:
        raise PlatformError("X GET /2/usage/tweets: no answer")
    try:
        body = seen[-1].json()
    except ValueError:
        raise PlatformError("X GET /2/usage/tweets: the body is not JSON") from None
    return parse_usage(body)
