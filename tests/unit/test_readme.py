"""The README's commands work as written: a newcomer copies them.

- Every shell line of its code blocks names a script that exists and runs (`scripts/demo`) or a growthloop
  command, subcommand and options that the CLI has, with no more arguments than the command takes; every
  `GROWTHLOOP_*` variable it exports is one the code reads.
- Every inline `growthloop ...` command in its prose and its table of commands exists the same way, and each
  option the table lists beside a command (`--days`, `--world`, ...) is an option of that command.
- Every TOML block is a settings file that loads.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from growthloop.cli.app import app
from growthloop.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SRC = ROOT / "src" / "growthloop"
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")  # NAME, ID, FILE, COMMAND: the reader fills them in


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int


def _blocks(markdown: str) -> list[Block]:
    found = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", markdown, flags=re.S | re.M):
        found.append(Block(m.group(1), m.group(2), markdown.count("\n", 0, m.start()) + 1))
    return found


def _shell_lines(block: Block) -> Iterator[tuple[int, list[str]]]:
    """Each command of a shell block as its words, comments dropped, `\\` continuations joined."""
    pending, start = "", block.line
    for i, raw in enumerate(block.text.splitlines(), start=block.line + 1):
        if not pending:
            start = i
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        words = shlex.split(pending + raw, comments=True)
        pending = ""
        if words:
            yield start, words


# Typer builds its commands on its own copy of click (typer._click): they are read by duck type, not class.
Command = Any


def _root() -> Command:
    command = typer.main.get_command(app)
    assert isinstance(getattr(command, "commands", None), dict), command
    return command


def _options(command: Command) -> dict[str, Any]:
    return {name: p for p in command.params if p.param_type_name == "option" for name in (*p.opts, *p.secondary_opts)}


def _subcommands(command: Command) -> dict[str, Command] | None:
    found = getattr(command, "commands", None)
    return found if isinstance(found, dict) else None


def resolve(words: list[str]) -> tuple[Command, list[str]]:
    """The command that `growthloop WORDS` runs, and what is wrong with WORDS (empty when nothing is)."""
    root = _root()
    command: Command = root
    problems: list[str] = []
    global_options = _options(root)
    arguments: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            option = _options(command).get(name) or global_options.get(name)
            if name == "--help":
                continue  # every command has it (click adds it outside `params`)
            if option is None:
                problems.append(f"{' '.join(words)}: no option {name} on `{command.name}`")
            elif not option.is_flag and not option.count and "=" not in word and rest:
                rest.pop(0)  # the option's value
            continue
        subcommands = _subcommands(command)
        if subcommands is not None and not arguments:
            sub = subcommands.get(word)
            if sub is None:
                problems.append(f"{' '.join(words)}: no command {word!r} in `{command.name}`")
                return command, problems
            command = sub
            continue
        arguments.append(word)
    positional = [p for p in command.params if p.param_type_name == "argument"]
    takes = float("inf") if any(p.nargs == -1 for p in positional) else sum(max(p.nargs, 1) for p in positional)
    if len(arguments) > takes:
        problems.append(f"{' '.join(words)}: `{command.name}` takes {takes:g} argument(s), given {arguments}")
    return command, problems


def _growthloop_words(words: list[str]) -> list[str] | None:
    """The words after the program's name, when WORDS run growthloop."""
    if words and Path(words[0]).name == "growthloop":
        return words[1:]
    return None


def _inline_commands(markdown: str) -> list[str]:
    return sorted(set(re.findall(r"`((?:\.venv/bin/)?growthloop(?: [^`]*)?)`", markdown)))


def _command_path(text: str) -> list[str]:
    """`growthloop jobs pause NAME --by X` -> ["jobs", "pause"]: the leading words that name commands."""
    path = []
    for word in shlex.split(text)[1:]:
        if word.startswith("-") or PLACEHOLDER.match(word):
            break
        path.append(word)
    return path


def _table_rows(markdown: str) -> list[tuple[list[str], list[str]]]:
    """The table of commands: each row's commands (siblings like `approve ID` made whole) and the options it lists."""
    rows = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| `growthloop") else []
        if len(cells) < 2:
            continue
        spans = re.findall(r"`([^`]+)`", cells[0])
        path = _command_path(spans[0])
        commands = [spans[0]] + [" ".join(["growthloop", *path[:-1], s]) for s in spans[1:]]
        rows.append((commands, re.findall(r"`(--[a-z][a-z-]*)", " ".join(cells[1:]))))
    return rows


MARKDOWN = README.read_text(encoding="utf-8")
SHELL = [b for b in _blocks(MARKDOWN) if b.language in ("sh", "bash", "console", "shell")]


def test_the_readme_has_what_these_tests_read() -> None:
    """The parsing below finds the blocks, commands and table rows it checks (else the checks pass on nothing)."""
    assert len(SHELL) >= 4 and any(b.language == "toml" for b in _blocks(MARKDOWN))
    assert len(_inline_commands(MARKDOWN)) >= 15
    assert len(_table_rows(MARKDOWN)) >= 12


@pytest.mark.parametrize("block", SHELL, ids=lambda b: f"line{b.line}")
def test_every_shell_line_runs_a_real_script_or_command(block: Block) -> None:
    problems = []
    for line, words in _shell_lines(block):
        if words[0] == "export":
            for assignment in words[1:]:
                variable = assignment.split("=", 1)[0]
                used = any(variable in f.read_text(encoding="utf-8") for f in SRC.rglob("*.py"))
                if not used:
                    problems.append(f"README line {line}: {variable} is read nowhere in src/growthloop")
            continue
        rest = _growthloop_words(words)
        if rest is not None:
            problems += [f"README line {line}: {p}" for p in resolve(rest)[1]]
        elif words[0].startswith("scripts/"):
            script = ROOT / words[0]
            if not (script.is_file() and script.stat().st_mode & 0o111):
                problems.append(f"README line {line}: {words[0]} is not an executable script")
        else:
            problems.append(f"README line {line}: {words[0]!r} is neither a script nor growthloop")
    assert problems == []


@pytest.mark.parametrize("text", _inline_commands(MARKDOWN))
def test_every_inline_command_exists(text: str) -> None:
    words = _growthloop_words(shlex.split(text))
    assert words is not None
    assert resolve([w for w in words if not PLACEHOLDER.match(w)])[1] == []


@pytest.mark.parametrize("row", _table_rows(MARKDOWN), ids=lambda r: r[0][0])
def test_every_option_in_the_table_belongs_to_its_command(row: tuple[list[str], list[str]]) -> None:
    commands, options = row
    problems = []
    for text in commands:
        words = [w for w in shlex.split(text)[1:] if not PLACEHOLDER.match(w)]
        problems += resolve(words)[1]
    for option in options:
        problems += resolve([*_command_path(commands[0]), option])[1]
    assert problems == []


def test_a_wrong_command_or_option_is_caught() -> None:
    """The checks can fail: an unknown command, an option of another command, a surplus argument."""
    assert resolve(["simulate", "--days", "3"])[1] == []
    assert resolve(["simulte"])[1]
    assert resolve(["status", "--days", "3"])[1]
    assert resolve(["jobs", "run", "learn", "plan"])[1]


@pytest.mark.parametrize("block", [b for b in _blocks(MARKDOWN) if b.language == "toml"], ids=lambda b: f"line{b.line}")
def test_every_settings_block_loads(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in __import__("os").environ if k.startswith("GROWTHLOOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env or growthloop.toml of the caller's
    path = tmp_path / "readme.toml"
    path.write_text(block.text, encoding="utf-8")
    settings = load_settings(path)
    assert settings.model_dump() != load_settings(None).model_dump(), "the block changed nothing"
