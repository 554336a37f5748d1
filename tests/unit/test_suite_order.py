"""The suite's own scheduling: the modules `tests/conftest.py` hands out first exist (a renamed one would
silently lose its place)."""

from __future__ import annotations

from pathlib import Path

from ..conftest import LONGEST_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_named_longest_exists() -> None:
    missing = [m for m in LONGEST_MODULES if not (ROOT / m).is_file()]
    assert not missing, f"LONGEST_MODULES names modules that are gone: {missing}"
