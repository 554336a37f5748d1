"""The LLM writer's prompt: files under ``prompts/`` filled in from the brief.

* ``prompts/system.md``              the writer's rules and the answer format, then the persona;
* ``prompts/personas/<persona>.md``  one file per value of the ``generator`` dimension;
* ``prompts/brief.md``               the user message: niche, every chosen dimension value with what
                                     it asks for, and the learned insights (``Brief.top_performers_text()``
                                     verbatim, SPEC §2.2 and §2.9);
* ``prompts/reply.md``               the user message for a reply: as brief.md, plus the post replied to,
                                     JSON-quoted inside a delimited block and marked untrusted (SPEC §2.10);
* ``prompts/correction.md``          sent after an unusable answer, with what was wrong.

``LlmSettings.prompts_dir`` may hold files of the same names; they override the bundled ones.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from openai.types.chat import (
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from growthloop.domain import DIMENSION_DESCRIPTIONS, DIMENSIONS, Brief, Mention

_INVISIBLE = ("Cf", "Cc", "Co", "Cn")  # format (zero-width, bidi, tags), control, private use, unassigned
_PERSONA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_PARTS = 6
MIN_THREAD_PARTS = 2


class PromptMissing(LookupError):
    pass


@dataclass(frozen=True)
class Shape:
    """How many parts the chosen format asks for."""

    thread: bool

    @property
    def min_parts(self) -> int:
        return MIN_THREAD_PARTS if self.thread else 1

    @property
    def max_parts(self) -> int:
        return MAX_PARTS if self.thread else 1

    def instruction(self) -> str:
        if self.thread:
            return (
                f"a thread: 3 to {MAX_PARTS} parts, one post per part, each readable on its own; "
                "the first part is the hook."
            )
        return "a single post: exactly one part."


def shape_of(brief: Brief) -> Shape:
    return Shape(thread="thread" in brief.dimensions.get("format_strategy", ""))


REPLY_SHAPE = Shape(thread=False)


class Prompts:
    """Reads prompt files: from `override_dir` when it has the file, else the bundled ones."""

    def __init__(self, override_dir: str | Path | None = None) -> None:
        self.override_dir = Path(override_dir) if override_dir else None

    def read(self, *relative: str) -> str:
        if self.override_dir is not None:
            candidate = self.override_dir.joinpath(*relative)
            if candidate.is_file():
                return candidate.read_text(encoding="utf-8")
        bundled = resources.files(__package__).joinpath("prompts", *relative)
        if bundled.is_file():
            return bundled.read_text(encoding="utf-8")
        where = f"{self.override_dir} or the bundled prompts" if self.override_dir else "the bundled prompts"
        raise PromptMissing(f"no prompt file {'/'.join(relative)} in {where}")

    def persona(self, name: str) -> str:
        if not _PERSONA_NAME.match(name):
            raise PromptMissing(f"persona {name!r} is not a valid prompt file name")
        return self.read("personas", f"{name}.md")

    def missing_personas(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """The personas without a prompt file (for a start-up or doctor check)."""
        missing = []
        for name in names:
            try:
                self.persona(name)
            except PromptMissing:
                missing.append(name)
        return missing


def _dimension_lines(brief: Brief) -> str:
    ordered = [d for d in DIMENSIONS if d in brief.dimensions]
    ordered += [d for d in brief.dimensions if d not in DIMENSIONS]
    lines = []
    for dim in ordered:
        value = brief.dimensions[dim]
        if dim == "generator":
            meaning = "write as the persona described in the system prompt"
        else:
            meaning = DIMENSION_DESCRIPTIONS.get(dim, {}).get(value, f"use {value.replace('_', ' ')} as the {dim}")
        lines.append(f"- {dim}: {value} ({meaning})")
    return "\n".join(lines)


def _system(brief: Brief, prompts: Prompts) -> ChatCompletionSystemMessageParam:
    persona = brief.dimensions.get("generator", "")
    text = prompts.read("system.md").rstrip() + "\n\n" + prompts.persona(persona).strip() + "\n"
    return {"role": "system", "content": text}


def build_messages(brief: Brief, prompts: Prompts) -> list[ChatCompletionMessageParam]:
    """The chat messages for one post or thread. Raises PromptMissing when a prompt file is missing."""
    shape = shape_of(brief)
    example = '"the post"' if not shape.thread else '"part one", "part two", "part three"'
    user = Template(prompts.read("brief.md")).safe_substitute(
        niche=brief.niche,
        dimensions=_dimension_lines(brief),
        insights=brief.top_performers_text() or "No learned insights yet.",
        shape=shape.instruction(),
        max_length=brief.max_weighted_length,
        parts_example=example,
    )
    message: ChatCompletionUserMessageParam = {"role": "user", "content": user.strip()}
    return [_system(brief, prompts), message]


def fence_quote(text: str) -> str:
    """Untrusted text as a JSON string that cannot leave its fence nor hide anything from the model.

    json.dumps escapes quotes and newlines; "<" and ">" are escaped too, so the text cannot close the
    fence; invisible characters (zero-width, direction overrides, other format and control characters)
    are written as \\uXXXX escapes, so what the model reads is what a person sees.
    """
    quoted = json.dumps(text, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return "".join(_escaped(ch) if unicodedata.category(ch) in _INVISIBLE else ch for ch in quoted)


def _escaped(ch: str) -> str:
    """`ch` as JSON escapes it: \\uXXXX, a surrogate pair beyond the first plane (the tag characters)."""
    return json.dumps(ch, ensure_ascii=True)[1:-1]


def build_reply_messages(brief: Brief, mention: Mention, prompts: Prompts) -> list[ChatCompletionMessageParam]:
    """The chat messages for a reply. The mention's text goes in as a JSON string, fenced and marked untrusted."""
    quoted = fence_quote(mention.text)
    user = Template(prompts.read("reply.md")).safe_substitute(
        niche=brief.niche,
        dimensions=_dimension_lines(brief),
        insights=brief.top_performers_text() or "No learned insights yet.",
        kind=mention.kind,
        author=fence_quote(mention.author),
        mention_json=quoted,
        max_length=brief.max_weighted_length,
    )
    message: ChatCompletionUserMessageParam = {"role": "user", "content": user.strip()}
    return [_system(brief, prompts), message]


def correction_message(brief: Brief, prompts: Prompts, problem: str, shape: Shape) -> ChatCompletionUserMessageParam:
    text = Template(prompts.read("correction.md")).safe_substitute(
        problem=problem,
        shape=shape.instruction(),
        max_length=brief.max_weighted_length,
    )
    return {"role": "user", "content": text.strip()}
