"""Our weighted count against twitter-text's own conformance file (validate.yml).

The file is twitter-text's own, copied with its licence in tests/data (or read from the folder named by
$GROWTHLOOP_SHARED_DIR, to check a newer one), and read at run time: no case is copied into code.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml
from twitter_text import parse_tweet
from twitter_text.config import config

from growthloop.text import invalid_character, weighted_length
from tests.data_files import data_file

# The sections that test today's counting (v3: emoji sequences weigh 2). The file's other
# counting section, WeightedTweetsCounterTest, is the older v2 rules (each emoji code point
# weighs 2), and its "tweets" section the original 140-character rules; neither is what X counts
# now, so neither is checked here.
CURRENT_SECTIONS = ("WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest")


VALIDATE_YML = data_file("twitter-text/validate.yml")


def _load() -> dict[str, Any] | None:
    if not VALIDATE_YML.is_file():
        return None
    with VALIDATE_YML.open(encoding="utf-8") as f:
        tests: dict[str, Any] = yaml.safe_load(f)["tests"]
    return tests


_TESTS = _load()


def _require_file() -> dict[str, Any]:
    if _TESTS is None:
        message = f"twitter-text conformance file not found: {VALIDATE_YML}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return _TESTS


def _cases() -> list[Any]:
    if _TESTS is None:
        # One placeholder, so that the missing file shows up as a skip (or, on CI, a failure).
        return [pytest.param(None, id="validate.yml-missing")]
    return [
        pytest.param(case, id=f"{section}: {case['description']}")
        for section in CURRENT_SECTIONS
        for case in _TESTS.get(section) or []
    ]


def test_current_sections_are_present() -> None:
    tests = _require_file()
    for section in CURRENT_SECTIONS:
        assert tests.get(section), f"{VALIDATE_YML} has no cases in section {section}"


def test_library_default_config_is_version_3() -> None:
    # growthloop.text counts with the library's defaults; they must stay the v3 rules these cases check.
    assert config["defaults"] == config["version3"]


@pytest.mark.parametrize("case", _cases())
def test_weighted_length_conforms(case: dict[str, Any] | None) -> None:
    _require_file()
    assert case is not None
    text, expected = case["text"], case["expected"]

    assert weighted_length(text) == expected["weightedLength"]
    assert parse_tweet(text).valid is expected["valid"]
    # The gate's own rule (non-empty, within 280, no invalid character) must agree too.
    length = weighted_length(text)
    assert (0 < length <= 280 and invalid_character(text) is None) is expected["valid"]
