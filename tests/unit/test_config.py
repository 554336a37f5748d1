"""Settings: file < environment < command line, and one clear line for each kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from growthloop.config import load_settings, parse_duration
from growthloop.errors import ConfigError


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "growthloop.toml"
    path.write_text(body)
    return path


def test_defaults_are_the_documented_ones() -> None:
    s = load_settings(None)
    assert s.posts_per_hour == 2 and s.jobs["followers"].interval == 900 and s.jobs["attribute"].interval == 7200
    assert s.database_url == "sqlite:///growthloop.db" and s.platform == "sim" and s.generator == "offline"


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ('posts_per_hour = "lots"', "posts_per_hour", "valid integer"),
        ('[jobs.post]\ninterval = "5 minutes"', "jobs.post.interval", "not a duration"),
        ("[jobs.post]\nbogus = 1", "jobs.post.bogus", "Extra inputs are not permitted"),
        ("[jobs.tweet]\ninterval = 60", "jobs", "unknown job 'tweet'"),
        ("[gate]\nduplicate_threshold = 2", "gate.duplicate_threshold", "less than or equal to 1"),
        ("republish_after = 0.5", "republish_after", "greater than or equal to 1"),
        ("republish_after = 3601", "republish_after", "less than or equal to 3600"),
        ('republish_after = "soon"', "republish_after", "valid number"),
        ('checkpoints = ["1h", "15m"]', "checkpoints", "increasing"),
        ('[buckets]\ntopic = ["a"]', "buckets", "needs exactly the dimensions"),
        ("[jobs.post\n", "(syntax)", "Expected ']'"),
    ],
)
def test_a_bad_file_names_the_file_the_field_and_the_problem(
    tmp_path: Path, body: str, field: str, problem: str
) -> None:
    path = _file(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: ") and problem in message
    assert "\n" not in message


def test_the_environment_overrides_the_file_and_is_named_when_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, "posts_per_hour = 3")
    monkeypatch.setenv("GROWTHLOOP_POSTS_PER_HOUR", "4")
    assert load_settings(path).posts_per_hour == 4
    assert load_settings(path, posts_per_hour=5).posts_per_hour == 5
    monkeypatch.setenv("GROWTHLOOP_POSTS_PER_HOUR", "abc")
    with pytest.raises(ConfigError, match="^environment GROWTHLOOP_POSTS_PER_HOUR: posts_per_hour: "):
        load_settings(None)


def test_one_job_configured_keeps_the_others_defaults(tmp_path: Path) -> None:
    s = load_settings(_file(tmp_path, '[jobs.post]\ninterval = "5m"\nenabled = false'))
    assert s.jobs["post"].interval == 300 and not s.jobs["post"].enabled
    assert s.jobs["attribute"].interval == 7200 and s.jobs["attribute"].enabled


def test_the_fingerprint_follows_the_configuration(tmp_path: Path) -> None:
    a, b = load_settings(None), load_settings(None)
    c = load_settings(_file(tmp_path, "queue_size = 9"))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert len(a.fingerprint()) == 12


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("2h", 7200), ("7d", 604800), ("30s", 30), (90, 90)])
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-5m", 0, True, "5 minutes"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)
