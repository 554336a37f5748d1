"""Structured logs (structlog): one event per job start and end with its counts; console or JSON.

Secrets never reach a log line (I10): any key that names a secret is masked before rendering, and every text
value is scrubbed of the secrets the environment holds (growthloop.redact).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from growthloop import redact

_SECRET = re.compile(r"(secret|token|password|api_key|apikey|authorization|bearer)", re.IGNORECASE)


def _mask_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A key naming a secret is masked; any text value is scrubbed of the secrets in the environment."""
    for key, value in list(event.items()):
        if _SECRET.search(key):
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = redact.scrub(value)
    return event


class _CurrentStderr:
    """Writes to whatever sys.stderr is now (tests and daemons may swap it after logging is set up)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(json_output: bool = False, quiet: bool = False) -> None:
    """quiet: only warnings and errors (the simulator runs thousands of jobs)."""
    renderer: Any = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING if quiet else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
