"""A local OpenAI-compatible server for tests: POST /v1/chat/completions answers from a script.

Real HTTP on 127.0.0.1 (port 0, a thread per request), so the `openai` SDK is exercised as it is
against OpenAI, Ollama, vLLM or llama.cpp. Each request takes the next scripted Reply; when the
script is empty the server answers 500 "script exhausted", so an unexpected call fails the test.
Every request is recorded (path, headers, parsed JSON body) for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a dict (sent as JSON) or bytes (sent as is)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes


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


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                with fake._lock:
                    fake.requests.append(
                        Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw)
                    )
                    reply = fake._script.popleft() if fake._script else None
                if self.path.rstrip("/") != "/v1/chat/completions":
                    reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
                elif reply is None:
                    reply = Reply(500, {"error": {"message": "script exhausted"}})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", reply.content_type)
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *replies: Reply) -> FakeOpenAI:
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
