"""How the LLM writer says "no draft": DraftRejected, with a reason that is safe to store and show.

The Generator port returns a Draft; a draft that could not be written is a rejected draft with its
reason (docs/design.md#gate), so ``write()`` raises DraftRejected and the planner records the decision as
'skipped' with "rejected by the writer: <reason>", the same way it records a gate rejection.
"""

from __future__ import annotations

from growthloop.errors import (
    BUDGET,
    MALFORMED,
    PERSONA,
    RATE_LIMITED,
    REFUSED,
    REQUEST_REFUSED,
    SERVER_ERROR,
    SYSTEMIC_KINDS,
    TIMEOUT,
    DraftRejected,
)

__all__ = [
    "BUDGET",
    "MALFORMED",
    "PERSONA",
    "RATE_LIMITED",
    "REFUSED",
    "REQUEST_REFUSED",
    "SERVER_ERROR",
    "SYSTEMIC_KINDS",
    "TIMEOUT",
    "DraftRejected",
]
