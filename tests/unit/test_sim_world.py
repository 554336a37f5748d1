"""World files of the simulator: the default loads, and every kind of mistake is one clear line."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from growthloop.adapters.platforms.sim.world import (
    DEFAULT_DIMENSIONS,
    Drift,
    Effect,
    Interaction,
    World,
    default_world_path,
    load_world,
    parse_world,
)
from growthloop.errors import ConfigError

MINIMAL = 'name = "tiny"\nseed = 1\n'


def problem_of(text: str, source: str = "bad.toml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_world(text, source)
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{source}: {err.field}: ")
    return err


# ------------------------------------------------------------------------------------------- valid worlds


def test_default_world_loads_with_the_seed_accounts_figures() -> None:
    world = load_world(default_world_path())
    assert world.name == "default"
    assert world.initial_followers == 30
    assert world.start is None  # `growthloop simulate` starts it `--days` before now
    assert world.dimensions == DEFAULT_DIMENSIONS
    assert set(world.effects) == set(DEFAULT_DIMENSIONS)
    assert world.faults.timeout == world.faults.rate_limited == world.faults.server_error == 0.0
    assert 10 <= world.reach.median_impressions <= 200
    assert len(world.interactions) >= 2


def test_minimal_world_takes_documented_defaults() -> None:
    world = parse_world(MINIMAL, "tiny.toml")
    assert (world.name, world.seed, world.start, world.initial_followers) == ("tiny", 1, None, 30)
    assert world.dimensions == DEFAULT_DIMENSIONS
    assert world.effects == {} and world.interactions == [] and world.drift == []
    assert world.virality.probability == 0.0
    assert world.follow_delay.max_hours == 48.0


def test_world_is_frozen_and_with_seed_changes_only_the_seed() -> None:
    world = load_world(default_world_path())
    other = world.with_seed(7)
    assert other.seed == 7 and world.seed == 20251102
    assert other.model_dump(exclude={"seed"}) == world.model_dump(exclude={"seed"})
    with pytest.raises(ValidationError):
        world.seed = 3  # type: ignore[misc]
    with pytest.raises(ConfigError, match="seed"):
        world.with_seed(-1)


def test_start_accepts_a_string_and_normalises_to_utc() -> None:
    world = parse_world(MINIMAL + 'start = "2025-11-03T02:00:00+02:00"\n')
    assert world.start == datetime(2025, 11, 3, tzinfo=UTC)
    assert world.start is not None and world.start.utcoffset() is not None


def test_hour_multipliers_and_cosine_give_24_log_multipliers() -> None:
    flat = parse_world(MINIMAL + "[hours]\nmultipliers = [" + ", ".join(["1.0"] * 23 + ["2.0"]) + "]\n")
    logs = flat.hours.log_multipliers()
    assert len(logs) == 24 and logs[23] == pytest.approx(math.log(2.0)) and logs[0] == 0.0
    shifted = parse_world(MINIMAL + "[hours]\nutc_offset = -5\namplitude = 0.5\npeak_hour = 13\n")
    logs = shifted.hours.log_multipliers()
    assert max(range(24), key=lambda h: logs[h]) == 18  # 13:00 at UTC-5 is 18:00 UTC
    assert logs[18] == pytest.approx(0.5)


def test_interactions_and_drift_parse() -> None:
    text = (
        MINIMAL
        + "start = 2025-11-03T00:00:00Z\n"
        + '[[interactions]]\nwhen = { topic = "sleep", tone = "witty" }\nreach = 0.2\n'
        + '[[drift]]\nday = 10\nmode = "replace"\neffects.topic.focus = { conversion = 0.4 }\n'
    )
    world = parse_world(text)
    assert world.interactions[0].when == {"topic": "sleep", "tone": "witty"}
    assert world.drift[0].effects["topic"]["focus"].conversion == 0.4


def test_load_world_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL + "[effects.topic]\nsleep = { reach = 0.5 }\n", encoding="utf-8")
    assert load_world(path).effects["topic"]["sleep"].reach == 0.5


# ------------------------------------------------------------------------------------------------ errors


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_world(path)
    assert str(info.value).startswith(f"{path}: <file>: cannot read")


def test_toml_syntax_error_names_the_file_and_the_line() -> None:
    err = problem_of('name = "x"\nseed = = 3\n', "syntax.toml")
    assert err.field == "<toml>"
    assert "invalid TOML" in err.problem and "line 2" in err.problem


def test_unknown_top_level_field() -> None:
    err = problem_of(MINIMAL + "followers = 30\n")
    assert str(err) == "bad.toml: followers: unknown field"


def test_unknown_nested_field_is_named_with_its_dotted_path() -> None:
    err = problem_of(MINIMAL + "[reach]\nmedain_impressions = 40\n")
    assert str(err) == "bad.toml: reach.medain_impressions: unknown field"


def test_wrong_type_of_an_effect_names_the_full_path() -> None:
    err = problem_of(MINIMAL + '[effects.topic]\nsleep = { reach = "high" }\n')
    assert err.field == "effects.topic.sleep.reach"
    assert str(err) == "bad.toml: effects.topic.sleep.reach: must be a number (got 'high')"


def test_missing_required_field() -> None:
    err = problem_of('name = "x"\n')
    assert str(err) == "bad.toml: seed: required field is missing"


def test_seed_must_be_a_non_negative_integer() -> None:
    assert problem_of('name = "x"\nseed = 1.5\n').problem.startswith("must be an integer")
    assert problem_of('name = "x"\nseed = true\n').field == "seed"
    err = problem_of('name = "x"\nseed = -4\n')
    assert err.field == "seed" and "greater than or equal to 0" in err.problem


def test_negative_rate_is_out_of_range() -> None:
    err = problem_of(MINIMAL + "[funnel]\nlike = -0.01\n")
    assert err.field == "funnel.like"
    assert "greater than or equal to 0" in err.problem and "-0.01" in err.problem


def test_probability_above_one_is_out_of_range() -> None:
    err = problem_of(MINIMAL + "[virality]\nprobability = 1.5\n")
    assert err.field == "virality.probability"
    assert "less than or equal to 1" in err.problem


def test_hour_list_must_have_24_values() -> None:
    err = problem_of(MINIMAL + "[hours]\nmultipliers = [" + ", ".join(["1.0"] * 23) + "]\n")
    assert str(err) == "bad.toml: hours.multipliers: must have 24 values (one per local hour 0-23), got 23"


def test_hour_multiplier_must_be_positive() -> None:
    values = ["1.0"] * 24
    values[5] = "0.0"
    err = problem_of(MINIMAL + "[hours]\nmultipliers = [" + ", ".join(values) + "]\n")
    assert err.field == "hours.multipliers" and "hour 5" in err.problem


def test_hours_take_one_form_only() -> None:
    err = problem_of(MINIMAL + "[hours]\namplitude = 0.3\nmultipliers = [" + ", ".join(["1.0"] * 24) + "]\n")
    assert err.field == "hours.amplitude"


def test_effect_on_an_unknown_value_is_refused() -> None:
    err = problem_of(MINIMAL + "[effects.topic]\nslep = { reach = 0.2 }\n")
    assert err.field == "effects.topic.slep"
    assert "'slep' is not a value of topic" in err.problem


def test_effect_on_an_unknown_dimension_is_refused() -> None:
    err = problem_of(MINIMAL + "[effects.colour]\nred = { reach = 0.2 }\n")
    assert err.field == "effects.colour.red" and "unknown dimension 'colour'" in err.problem


def test_effect_out_of_range_and_not_finite() -> None:
    err = problem_of(MINIMAL + "[effects.tone]\nwitty = { conversion = 9.0 }\n")
    assert err.field == "effects.tone.witty.conversion" and "less than or equal to 5" in err.problem
    err = problem_of(MINIMAL + "[effects.tone]\nwitty = { reach = nan }\n")
    assert str(err) == "bad.toml: effects.tone.witty.reach: must be a finite number (got nan)"


def test_interaction_needs_two_known_pairs() -> None:
    err = problem_of(MINIMAL + '[[interactions]]\nwhen = { topic = "sleep" }\nreach = 0.1\n')
    assert err.field == "interactions[0].when" and "at least 2" in err.problem
    err = problem_of(MINIMAL + '[[interactions]]\nwhen = { topic = "sleep", mood = "x" }\n')
    assert err.field == "interactions[0].when.mood"


def test_naive_start_is_refused() -> None:
    err = problem_of(MINIMAL + "start = 2025-11-03T00:00:00\n")
    assert err.field == "start" and "timezone-aware" in err.problem


def test_fault_probabilities_must_sum_to_at_most_one() -> None:
    err = problem_of(MINIMAL + "[faults]\ntimeout = 0.6\nserver_error = 0.6\n")
    assert err.field == "faults" and "at most 1" in err.problem


def test_drift_days_in_order_and_mode_known() -> None:
    err = problem_of(MINIMAL + "[[drift]]\nday = 10\n[[drift]]\nday = 5\n")
    assert err.field == "drift[1].day"
    err = problem_of(MINIMAL + '[[drift]]\nday = 10\nmode = "swap"\n')
    assert err.field == "drift[0].mode" and "'shift' or 'replace'" in err.problem
    err = problem_of(MINIMAL + "[[drift]]\nday = 3\neffects.topic.nope = { reach = 1.0 }\n")
    assert err.field == "drift[0].effects.topic.nope"


def test_follow_delay_is_truncated_at_48_hours_at_most() -> None:
    err = problem_of(MINIMAL + "[follow_delay]\nmax_hours = 72\n")
    assert err.field == "follow_delay.max_hours"


def test_virality_cap_below_scale_is_refused() -> None:
    err = problem_of(MINIMAL + "[virality]\nscale = 10.0\nmax_multiplier = 5.0\n")
    assert err.field == "virality.max_multiplier"


def test_several_problems_report_the_first_and_a_count() -> None:
    err = problem_of(MINIMAL + "[funnel]\nlike = -1.0\nrepost = 2.0\n")
    assert err.field == "funnel.like" and "(and 1 more problem)" in err.problem


def test_world_built_in_python_validates_too() -> None:
    with pytest.raises(ConfigError) as info:
        World.model_validate({"name": "x", "seed": 1, "effects": {"topic": {"bogus": {}}}})
    assert info.value.field == "effects.topic.bogus"


# ------------------------------------------------------------------------------------------ documentation

DOCS = Path(__file__).resolve().parents[2] / "docs" / "worlds.md"


def _parameters(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        out.append(prefix + name)
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += _parameters(sub, f"{name}.")
    return out


def test_every_world_parameter_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for model in (World, Effect, Interaction, Drift):
        for dotted in _parameters(model):
            name = dotted.rsplit(".", 1)[-1]
            forms = (f"`{name}`", f"`[{name}]`", f"`[[{name}]]`", f"`[{name}.")
            assert any(form in text for form in forms), dotted
    for section in ("reach", "funnel", "hours", "fatigue", "virality", "follow_delay", "organic", "accrual"):
        assert f"## `[{section}]`" in text, section


def test_the_documented_example_world_is_valid() -> None:
    text = DOCS.read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", text, re.S)
    assert example is not None
    world = parse_world(example.group(1), "worlds.md")
    assert world.drift[0].day == 14 and world.faults.rate_limited == 0.02
