"""How the LLM writer says "no draft": DraftRejected, with a reason that is safe to store and show.

The Generator port returns a Draft; a draft that could not be written is a rejected draft with its
reason (SPEC §2.3), so ``write()`` raises DraftRejected and the planner records the decision as
'skipped' with "rejected by the writer: <reason>", the same way it records a gate rejection.
"""

from __future__ import annotations

from growthloop.errors import GrowthloopError

# Why a draft was rejected. Kinds marked systemic would fail the same way for the next draft too
# (the planner may stop its run early instead of burning more decisions on them).
MALFORMED = "malformed"  # the answer was not the JSON asked for, or broke a rule (length, parts)
REFUSED = "refused"  # the model refused (message.refusal, content_filter, or a refusal text)
TIMEOUT = "timeout"  # no answer within the client timeout
RATE_LIMITED = "rate_limited"  # HTTP 429 on every attempt, or a retry-after longer than we wait
SERVER_ERROR = "server_error"  # 5xx, a broken response, or a connection failure on every attempt
REQUEST_REFUSED = "request_refused"  # 4xx other than 429: authentication, unknown model, bad request
BUDGET = "budget"  # the daily LLM budget is spent: no call was made
PERSONA = "persona"  # no prompt file for the chosen persona

SYSTEMIC_KINDS = frozenset({RATE_LIMITED, REQUEST_REFUSED, BUDGET, PERSONA})


class DraftRejected(GrowthloopError):
    """The writer could not produce a usable draft. ``reason`` is one line, free of secrets."""

    def __init__(self, reason: str, kind: str, attempts: int = 0) -> None:
        self.reason = reason
        self.kind = kind
        self.attempts = attempts  # API calls made for this draft (0 when none was made)
        super().__init__(reason)

    @property
    def systemic(self) -> bool:
        """True when the next draft would be rejected the same way (budget, auth, persona file, 429)."""
        return self.kind in SYSTEMIC_KINDS
