"""Reading the model's answer: structured JSON {"parts": [...]}, validated, or a refusal.

OpenAI-compatible servers vary (some ignore ``response_format``, some wrap JSON in a code fence),
so whatever comes back is validated here: a JSON object whose ``parts`` is a list of non-empty
strings, as many as the chosen format asks for (one, or a thread of up to six), each within the
brief's weighted length as the gate counts it. A refusal is recognised from ``message.refusal``, a
``content_filter`` finish, or an answer that is clearly a refusal ("I'm sorry, I can't help with that").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from growthloop.adapters.generators.llm.errors import MALFORMED, REFUSED
from growthloop.adapters.generators.llm.prompting import MAX_PARTS, Shape
from growthloop.text import weighted_length

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_APOS = "['\u2019]"
_REFUSAL = re.compile(
    rf"^\W*(?:(?:i{_APOS}?m|i am)\s+sorry|sorry|i apologi[sz]e|unfortunately)?[\s,.!]*(?:but\s+)?"
    rf"(?:i|we)\s*(?:can{_APOS}?t|cannot|can not|won{_APOS}?t|will not|am unable to|{_APOS}m unable to|"
    rf"am not able to|{_APOS}m not able to|must decline to|am not allowed to)\s+"
    r"(?:help|assist|comply|do that|do this|write|create|provide|produce|generate|fulfil|continue|support)"
    r"|^\W*(?:as an ai\b|i must decline\b|i(?:'m| am) sorry,? but\b)",
    re.IGNORECASE,
)


def looks_like_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text.strip()[:300]))


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    parts: list[StrictStr] = Field(min_length=1, max_length=MAX_PARTS)


@dataclass(frozen=True)
class Outcome:
    """Either parts (usable), or a failure kind (MALFORMED or REFUSED) with a one-line problem."""

    parts: tuple[str, ...] = ()
    kind: str | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind is None


def _clip(text: str, n: int = 120) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= n else one_line[: n - 1] + "…"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "answer"
    return f"{where}: {err['msg']}"


def parse_completion(
    completion: ChatCompletion, shape: Shape, max_weighted_length: int, length: Callable[[str], int] = weighted_length
) -> Outcome:
    if not completion.choices:
        return Outcome(kind=MALFORMED, problem="the response has no choices")
    choice = completion.choices[0]
    message = choice.message
    if message.refusal:
        return Outcome(kind=REFUSED, problem=f"the model refused: {_clip(message.refusal)}")
    if choice.finish_reason == "content_filter":
        return Outcome(kind=REFUSED, problem="the server's content filter stopped the answer")
    content = (message.content or "").strip()
    if not content:
        cut = " (cut off at the token limit)" if choice.finish_reason == "length" else ""
        return Outcome(kind=MALFORMED, problem=f"the answer is empty{cut}")
    fenced = _FENCE.match(content)
    if fenced:
        content = fenced.group(1).strip()
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        if looks_like_refusal(content):
            return Outcome(kind=REFUSED, problem=f"the model refused: {_clip(content)}")
        if choice.finish_reason == "length":
            return Outcome(kind=MALFORMED, problem="the answer was cut off at the token limit (incomplete JSON)")
        return Outcome(kind=MALFORMED, problem=f"the answer is not valid JSON ({exc.msg} at char {exc.pos})")
    if not isinstance(data, dict):
        return Outcome(
            kind=MALFORMED, problem=f'the answer is JSON but not an object {{"parts": [...]}} ({type(data).__name__})'
        )
    if "parts" not in data and isinstance(data.get("refusal"), str):
        return Outcome(kind=REFUSED, problem=f"the model refused: {_clip(data['refusal'])}")
    try:
        answer = _Answer.model_validate(data)
    except ValidationError as exc:
        return Outcome(kind=MALFORMED, problem=f'the JSON does not match {{"parts": [...]}} ({_first_error(exc)})')
    parts = tuple(p.strip() for p in answer.parts)
    for n, part in enumerate(parts, 1):
        if not part:
            return Outcome(kind=MALFORMED, problem=f"part {n} is empty")
    if len(parts) == 1 and looks_like_refusal(parts[0]):
        return Outcome(kind=REFUSED, problem=f"the model refused: {_clip(parts[0])}")
    if not shape.min_parts <= len(parts) <= shape.max_parts:
        wanted = "exactly 1 part" if not shape.thread else f"{shape.min_parts} to {shape.max_parts} parts"
        return Outcome(kind=MALFORMED, problem=f"{len(parts)} parts where the format asks for {wanted}")
    for n, part in enumerate(parts, 1):
        counted = length(part)  # the platform's own count (twitter-text on X)
        if counted > max_weighted_length:
            return Outcome(
                kind=MALFORMED,
                problem=f"part {n} is {counted} weighted characters, over the limit of {max_weighted_length}",
            )
    return Outcome(parts=parts)
