"""The test data copied into tests/data is complete, licensed, and still the original's.

Every file tests/data_files.py names is in tests/data, with a LICENSE beside each copied third-party file and
a line in tests/data/README.md; and where the shared folder is at hand (../shared beside the project, or
$GROWTHLOOP_SHARED_DIR), each copy equals its original byte for byte (the seed audit: its SQL blocks), so a
newer original is noticed here rather than silently missed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.data_files import DATA, ORIGINALS, data_file, shared_dir


def _sql_blocks(path: Path) -> list[str]:
    return re.findall(r"```sql\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("relative", sorted(ORIGINALS))
def test_every_copy_is_in_the_repository_with_its_licence_and_origin(relative: str) -> None:
    copy = DATA / relative
    assert copy.is_file() and copy.stat().st_size > 0, f"{copy} is missing"
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert relative.split("/")[0] in readme, f"tests/data/README.md does not list {relative}"
    if not relative.startswith("seed/"):  # the audit is the project's own document
        assert (copy.parent / "LICENSE").is_file(), f"no LICENSE beside {relative}"


@pytest.mark.parametrize("relative", sorted(ORIGINALS))
def test_every_copy_is_still_the_original(relative: str) -> None:
    original = shared_dir() / ORIGINALS[relative]
    if not original.is_file():
        pytest.skip(f"no original to compare with at {original} (a clone without the shared folder)")
    copy = DATA / relative
    if relative == "seed/audit-queries.md":
        assert _sql_blocks(copy) == _sql_blocks(original) and len(_sql_blocks(copy)) >= 5
    else:
        assert copy.read_bytes() == original.read_bytes(), f"{original} changed: copy it to {copy}"


def test_the_tests_read_the_copies_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GROWTHLOOP_SHARED_DIR", raising=False)
    assert data_file("twitter-text/validate.yml") == DATA / "twitter-text" / "validate.yml"
    monkeypatch.setenv("GROWTHLOOP_SHARED_DIR", str(tmp_path))
    assert data_file("twitter-text/validate.yml") == tmp_path / "conformance" / "twitter-text" / "validate.yml"
    with pytest.raises(KeyError):
        data_file("x-api/openapi.json")  # not in the repository: its licence does not allow a copy
