"""An OpenAI-compatible chat completions endpoint for tests, at the HTTP edge: `httpx.MockTransport`.

The writer is given `http_client=fake.client()`: the real `openai` SDK builds, sends and decodes real HTTP
requests and responses, and only the socket is replaced (the openai SDK 3 runs on `httpx2`, httpx's
successor, whose MockTransport this is). Each request takes the next scripted Reply; when the script is
empty the answer is 500 "script exhausted", so an unexpected call fails the test. Every request is recorded
(path, headers, parsed JSON body, the read timeout the client set) for assertions.

A Reply slower than the client's read timeout raises the transport's ReadTimeout at once, as the client
would after waiting that long; one within the timeout is answered at once. So no test sleeps for real.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx2

BASE_URL = "http://fake-openai.test/v1"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a dict (sent as JSON) or bytes (sent as is)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # how long the server would take: past the client's timeout, the call times out
    content_type: str = "application/json"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    timeout_s: float | None  # the read timeout the client gave this request


def completion(
    content: str | None,
    *,
    refusal: str | None = None,
    finish_reason: str = "stop",
    prompt_tokens: int | None = 120,
    completion_tokens: int | None = 40,
    model: str = "fake-model",
) -> Reply:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_772_409_600,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
    }
    if prompt_tokens is not None and completion_tokens is not None:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return Reply(body=body)


def parts(*texts: str, **kw: Any) -> Reply:
    """A valid structured answer."""
    return completion(json.dumps({"parts": list(texts)}), **kw)


def malformed(**kw: Any) -> Reply:
    """Content that is not the JSON asked for (cut off mid-string)."""
    return completion('{"parts": ["Sleep is the most underrated', **kw)


def refusal(text: str = "I'm sorry, but I can't help with that request.", **kw: Any) -> Reply:
    """A refusal the way OpenAI sends it: message.refusal set, no content."""
    return completion(None, refusal=text, **kw)


def rate_limited(retry_after: str | None = "1") -> Reply:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(
        status=429,
        body={"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
        headers=headers,
    )


def slow(delay_s: float, reply: Reply | None = None) -> Reply:
    base = reply or parts("A late answer.")
    return Reply(base.status, base.body, dict(base.headers), delay_s, base.content_type)


def _read_timeout(request: httpx2.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if isinstance(value, int | float) else None


class FakeOpenAI:
    base_url = BASE_URL

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        self._clients: list[httpx2.Client] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        raw = request.read()
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        timeout = _read_timeout(request)
        self.requests.append(
            Recorded(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body, raw, timeout)
        )
        reply = self._script.popleft() if self._script else None
        if request.url.path.rstrip("/") != "/v1/chat/completions":
            reply = Reply(404, {"error": {"message": f"no route {request.url.path}"}})
        elif reply is None:
            reply = Reply(500, {"error": {"message": "script exhausted"}})
        if reply.delay_s and (timeout is None or reply.delay_s >= timeout):
            raise httpx2.ReadTimeout(f"no answer within {timeout} s", request=request)
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        headers = {"content-type": reply.content_type, **reply.headers}
        return httpx2.Response(reply.status, headers=headers, content=data)

    def client(self) -> httpx2.Client:
        """An HTTP client whose every request this fake answers (for the SDK's `http_client`)."""
        made = httpx2.Client(transport=httpx2.MockTransport(self.handle))
        self._clients.append(made)
        return made

    def script(self, *replies: Reply) -> FakeOpenAI:
        self._script.extend(replies)
        return self

    @property
    def pending(self) -> int:
        return len(self._script)

    def close(self) -> None:
        for made in self._clients:
            made.close()
