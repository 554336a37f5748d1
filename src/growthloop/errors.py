"""growthloop's error tree.

GrowthloopError
├── ConfigError          a bad configuration or world file (exit status 2)
├── SchemaError          the database schema is newer or older than the code
└── PlatformError        raised by Platform adapters; the post stage decides from the type alone
    ├── RateLimited(until)
    ├── AuthFailed
    ├── PlatformUnavailable   timeout, connection reset, 5xx: the outcome may be unknown
    └── ContentRejected       the platform refused this content (duplicate, too long, ...)
"""

from __future__ import annotations

from datetime import datetime


class GrowthloopError(Exception):
    pass


class ConfigError(GrowthloopError):
    """A configuration or world file is wrong. `str()` is one line: file, field, problem."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"{path}: {field}: {problem}")


class SchemaError(GrowthloopError):
    pass


class UsageError(GrowthloopError):
    """A command was given something it cannot use (an unknown name, a simulation that exists): exit 2."""


# Why a writer rejected a draft. Systemic kinds would fail the same way for the next draft too, so the
# planner stops its run instead of spending more decisions on them.
MALFORMED = "malformed"  # the answer was not the JSON asked for, or broke a rule (length, parts)
REFUSED = "refused"  # the model refused, or the reply would have repeated untrusted text
TIMEOUT = "timeout"  # no answer within the client timeout
RATE_LIMITED = "rate_limited"  # HTTP 429 on every attempt, or a retry-after longer than we wait
SERVER_ERROR = "server_error"  # 5xx, a broken response, or a connection failure on every attempt
REQUEST_REFUSED = "request_refused"  # 4xx other than 429: authentication, unknown model, bad request
BUDGET = "budget"  # the daily LLM budget is spent: no call was made
PERSONA = "persona"  # no prompt file for the chosen persona
SYSTEMIC_KINDS = frozenset({RATE_LIMITED, REQUEST_REFUSED, BUDGET, PERSONA})


class DraftRejected(GrowthloopError):
    """A writer could not produce a usable draft. ``reason`` is one line, free of secrets."""

    def __init__(self, reason: str, kind: str = REFUSED, attempts: int = 0) -> None:
        self.reason = reason
        self.kind = kind
        self.attempts = attempts  # API calls made for this draft (0 when none was made)
        super().__init__(reason)

    @property
    def systemic(self) -> bool:
        """True when the next draft would be rejected the same way (budget, auth, persona file, 429)."""
        return self.kind in SYSTEMIC_KINDS


class PlatformError(GrowthloopError):
    pass


class RateLimited(PlatformError):
    def __init__(self, until: datetime, message: str = "rate limited") -> None:
        self.until = until
        super().__init__(f"{message} until {until.isoformat()}")


class AuthFailed(PlatformError):
    pass


class PlatformUnavailable(PlatformError):
    pass


class ContentRejected(PlatformError):
    pass


class DryRun(PlatformError):
    """A dry run's publish: logged, not sent. The post is skipped with this reason."""
