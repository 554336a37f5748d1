"""The dependency rule of docs/architecture.md: the floors the doc draws are the ones `lint-imports` checks
(pyproject.toml), every top-level module has one, and reading the configuration loads no adapter."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import growthloop

ROOT = Path(__file__).resolve().parents[2]


def _contract(contract_id: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    found = [c for c in config["contracts"] if c.get("id") == contract_id]
    assert len(found) == 1, f"pyproject.toml: no import-linter contract {contract_id!r}"
    return found[0]


def _contract_floors() -> list[set[str]]:
    layers = _contract("floors")["layers"]
    assert isinstance(layers, list)
    return [{name.strip() for name in re.split(r"[|:]", layer)} for layer in layers]


def _doc_floors() -> list[set[str]]:
    """The floors of the doc's table, top first: the backquoted modules of each numbered row."""
    rows = re.findall(r"^\| (\d+) \| ([^|]*(?:\\\|[^|]*)*) \|", (ROOT / "docs/architecture.md").read_text(), re.M)
    assert rows, "docs/architecture.md: no table of floors"
    assert [int(n) for n, _ in rows] == list(range(len(rows), 0, -1)), "the floors are numbered from the top down"
    return [{m.removesuffix("/").removesuffix(".py") for m in re.findall(r"`([^`]+)`", cell)} for _, cell in rows]


def test_the_doc_draws_the_floors_the_contract_checks() -> None:
    assert _doc_floors() == _contract_floors()


def test_every_top_level_module_has_a_floor() -> None:
    modules = {m.name for m in pkgutil.iter_modules(growthloop.__path__)}
    placed = set().union(*_contract_floors())
    assert modules - placed == set(), "give these a floor in pyproject.toml's floors contract and the doc's table"
    assert placed - modules == set(), "the floors name modules that do not exist"


def test_reading_the_configuration_loads_no_adapter_and_no_learning() -> None:
    names = ("growthloop.adapters", "growthloop.learning", "growthloop.loop", "openai", "sqlalchemy", "numpy")
    code = f"import sys, growthloop.config; print(' '.join(n for n in {names!r} if n in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == []
