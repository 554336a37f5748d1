"""Unit tests run on SQLite only; tests/integration runs the store-facing ones on PostgreSQL too."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'growthloop.db'}"
