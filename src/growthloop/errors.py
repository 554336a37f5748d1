"""growthloop's error tree.

GrowthloopError
├── UserError            the user's input or environment is wrong: one line naming the source, exit status 2
│   ├── ConfigError      a bad configuration or world file, variable or option value
│   ├── SchemaError      the database schema is newer or older than the code, or missing tables
│   ├── StoreError       the database cannot be used: bad URL, server down, no such database, not SQLite, damaged
│   └── UsageError       a command was given something it cannot use
├── DraftRejected        a writer could not produce a usable draft
└── PlatformError        raised by Platform adapters; the post stage decides from the type alone
    ├── RateLimited(until)
    │   ├── BudgetExhausted   growthloop's own platform budget is spent (spend/): nothing is sent until `until`
    │   └── CreditsExhausted  the platform says the prepaid credits are spent (X: 402): nothing is sent
    ├── AuthFailed
    ├── PlatformUnavailable   timeout, connection reset, 5xx: the outcome may be unknown
    └── ContentRejected       the platform refused this content (duplicate, too long, ...)
"""

from __future__ import annotations

from datetime import datetime


class GrowthloopError(Exception):
    pass


class UserError(GrowthloopError):
    """Something the user can fix: `str()` is one line naming the source (file, variable, option, database)."""


class ConfigError(UserError):
    """A configuration or world file is wrong. `str()` is one line: file, field, problem."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"{path}: {field}: {problem}")


class SchemaError(UserError):
    pass


class StoreError(UserError):
    """The database cannot be used as given. Raised at the store boundary in place of the driver's error; the
    URL in the message has its password hidden."""


class UsageError(UserError):
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


class BudgetExhausted(RateLimited):
    """The account's platform budget (`[spend]`) is spent: no paid call is made until `until` (the next
    UTC day or month). A RateLimited, so the post stage keeps the post queued: nothing is lost."""

    def __init__(self, until: datetime, message: str) -> None:
        self.until = until
        PlatformError.__init__(self, message)  # the message says until when already


class CreditsExhausted(RateLimited):
    """The platform refused the call because the prepaid credits are spent (X answers 402 Payment Required,
    a problem titled CreditsDepleted; or its usage cap). A RateLimited, so the post stays queued and is tried
    again at `until`; doctor says to add credits or raise the spending limit in the Developer Console."""
