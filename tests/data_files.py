"""Where the tests find data taken from elsewhere: the copies in tests/data, or an override folder.

`data_file("twitter-text/validate.yml")` is the repository's copy (tests/data/README.md lists each file, its
origin and licence). With `GROWTHLOOP_SHARED_DIR` set, files are read from that folder instead, laid out
like the shared folder (`conformance/twitter-text/validate.yml`, ...): a way to test against newer originals.
The X API spec is not in the repository (its licence does not allow it): `shared_file` finds it in the
shared folder only.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
PROJECT = DATA.parents[1]
# tests/data path -> the same file's path in the shared folder
ORIGINALS = {
    "twitter-text/validate.yml": "conformance/twitter-text/validate.yml",
    "twitter-text/LICENSE": "conformance/twitter-text/LICENSE",
    "mastodon-api/openapi.json": "mastodon-api/openapi.json",
    "mastodon-api/LICENSE": "mastodon-api/LICENSE",
    "mastodon-api/README.md": "mastodon-api/README.md",
    "bluesky-api/openapi.json": "bluesky-api/openapi.json",
    "bluesky-api/LICENSE": "bluesky-api/LICENSE",
    "bluesky-api/README.md": "bluesky-api/README.md",
    "seed/audit-queries.md": "seed/system-audit-2025-11-02.md",
}


def override_dir() -> Path | None:
    """The folder named by GROWTHLOOP_SHARED_DIR, when set."""
    named = os.environ.get("GROWTHLOOP_SHARED_DIR")
    return Path(named) if named else None


def shared_dir() -> Path:
    """The shared folder: GROWTHLOOP_SHARED_DIR, else ../shared beside the project (it may not exist)."""
    return override_dir() or PROJECT.parent / "shared"


def data_file(relative: str) -> Path:
    """A file of tests/data, or its original in the override folder when GROWTHLOOP_SHARED_DIR is set."""
    if relative not in ORIGINALS:
        raise KeyError(f"{relative} is not a file of tests/data (see tests/data/README.md)")
    override = override_dir()
    return override / ORIGINALS[relative] if override is not None else DATA / relative


def shared_file(relative: str) -> Path:
    """A file that only the shared folder has (it is not in the repository)."""
    return shared_dir() / relative
