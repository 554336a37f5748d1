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


class DraftRejected(GrowthloopError):
    """A writer gave up on a draft (malformed or refused answers, budget spent, unsafe reply)."""


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
