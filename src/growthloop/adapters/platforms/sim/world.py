"""A simulated world: every parameter of the audience simulator (docs/design.md#simulator), read from one TOML file.

    world = load_world(default_world_path())      # or parse_world(text, "inline.toml")
    world = world.with_seed(7)                     # the same world, other random draws

`World` is a frozen pydantic model with `extra="forbid"` and strict types. Every problem with a world file
(TOML syntax, an unknown field, a wrong type, a value out of range, an effect naming a value that is not in
the buckets) raises `growthloop.errors.ConfigError(path, field, problem)`, whose `str()` is one line:

    worlds/mine.toml: effects.topic.sleep.reach: must be a number (got 'high')

The meaning, unit, default and range of every parameter is in `docs/worlds.md`; `worlds/default.toml` is the
calibrated default world, commented line by line.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from growthloop.domain import DEFAULT_BUCKETS
from growthloop.errors import ConfigError

__all__ = [
    "DEFAULT_DIMENSIONS",
    "Accrual",
    "Drift",
    "Effect",
    "Fatigue",
    "Faults",
    "FollowDelay",
    "Funnel",
    "Hours",
    "Interaction",
    "Organic",
    "Reach",
    "Virality",
    "World",
    "default_world_path",
    "load_world",
    "parse_world",
]

# The buckets of docs/design.md#plan used when a world file does not list its own.
DEFAULT_DIMENSIONS: dict[str, list[str]] = {dim: list(values) for dim, values in DEFAULT_BUCKETS.items()}

# Placeholder path of a ConfigError raised while validating; parse_world swaps in the real file name.
_NO_FILE = "<world>"

# A simulation starts between these (docs/worlds.md), so that ten years of virtual time and every window
# around it stay inside what a datetime can hold.
EARLIEST_START = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_START = datetime(2100, 1, 1, tzinfo=UTC)

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
LogEffect = Annotated[float, Field(ge=-5.0, le=5.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Reach(_Model):
    """Impressions of a plain post: log-normal around `median_impressions` with log-sd `sigma`."""

    median_impressions: float = Field(default=50.0, gt=0.0, le=1e7)
    sigma: float = Field(default=0.75, ge=0.0, le=3.0)


class Funnel(_Model):
    """Per-impression rates of each counter, and the conversion of a profile click into a follow."""

    like: Rate = 0.008
    repost: Rate = 0.0015
    reply: Rate = 0.001
    quote: Rate = 0.0002
    bookmark: Rate = 0.001
    profile_click: Rate = 0.006
    link_click: Rate = 0.0004
    rate_sigma: float = Field(default=0.35, ge=0.0, le=2.0)
    follow_per_profile_click: Rate = 0.2
    conversion_split: Rate = 0.5


class Effect(_Model):
    """True effect of one dimension value (or of an interaction), all in natural-log units."""

    reach: LogEffect = 0.0
    conversion: LogEffect = 0.0
    engagement: LogEffect = 0.0


class Interaction(_Model):
    """An extra effect when every `dimension = value` of `when` holds at once."""

    when: dict[str, str]
    reach: LogEffect = 0.0
    conversion: LogEffect = 0.0
    engagement: LogEffect = 0.0

    @field_validator("when")
    @classmethod
    def _at_least_two(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) < 2:
            raise ValueError(f"needs at least 2 `dimension = value` pairs, got {len(value)}")
        return value


class Hours(_Model):
    """Hour-of-day reach: 24 multipliers, or a cosine of `amplitude` (log units) peaking at `peak_hour`."""

    utc_offset: int = Field(default=0, ge=-12, le=14)
    multipliers: list[float] | None = None
    amplitude: float = Field(default=0.0, ge=0.0, le=3.0)
    peak_hour: float = Field(default=14.0, ge=0.0, lt=24.0)

    @field_validator("multipliers")
    @classmethod
    def _twenty_four_positive(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return value
        if len(value) != 24:
            raise ValueError(f"must have 24 values (one per local hour 0-23), got {len(value)}")
        for i, m in enumerate(value):
            if not m > 0.0 or m > 1000.0:
                raise ValueError(f"value {i} (hour {i}) must be in (0, 1000], got {m!r}")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Hours:
        if self.multipliers is not None:
            both = {"amplitude", "peak_hour"} & self.model_fields_set
            if both:
                problem = "give either `multipliers` or `amplitude`/`peak_hour`"
                raise ConfigError(_NO_FILE, f"hours.{sorted(both)[0]}", problem)
        return self

    def log_multipliers(self) -> tuple[float, ...]:
        """Reach log multiplier per UTC hour 0..23 (the local hour is UTC hour + utc_offset)."""
        out = []
        for utc_hour in range(24):
            local = (utc_hour + self.utc_offset) % 24
            if self.multipliers is not None:
                out.append(math.log(self.multipliers[local]))
            else:
                out.append(self.amplitude * math.cos(2.0 * math.pi * (local - self.peak_hour) / 24.0))
        return tuple(out)


class Fatigue(_Model):
    """Penalty (log units) per earlier post on the same topic among the last `window` posts."""

    window: int = Field(default=6, ge=0, le=1000)
    reach_penalty: float = Field(default=0.0, ge=0.0, le=5.0)
    conversion_penalty: float = Field(default=0.0, ge=0.0, le=5.0)


class Virality(_Model):
    """A rare viral mixture: with `probability`, reach is multiplied by a heavy-tailed draw."""

    probability: Rate = 0.0
    distribution: Literal["pareto", "lognormal"] = "pareto"
    scale: float = Field(default=8.0, gt=0.0, le=1e6)
    shape: float = Field(default=1.2, gt=0.0, le=20.0)
    max_multiplier: float = Field(default=2000.0, gt=0.0, le=1e7)

    @model_validator(mode="after")
    def _cap_above_scale(self) -> Virality:
        if self.max_multiplier < self.scale:
            raise ConfigError(
                _NO_FILE,
                "virality.max_multiplier",
                f"must be at least virality.scale ({self.scale:g}), got {self.max_multiplier:g}",
            )
        return self

    def mean_multiplier(self) -> float:
        """E[min(M, max_multiplier)] of a viral draw M."""
        cap = self.max_multiplier
        if self.distribution == "pareto":
            xm, alpha = self.scale, self.shape
            if abs(alpha - 1.0) < 1e-12:
                return xm + xm * math.log(cap / xm)
            tail: float = xm**alpha * (cap ** (1.0 - alpha) - xm ** (1.0 - alpha))  # float ** float is typed Any
            return xm + tail / (1.0 - alpha)
        mu, s = math.log(self.scale), self.shape
        phi = _normal_cdf
        below = math.exp(mu + s * s / 2.0) * phi((math.log(cap) - mu - s * s) / s)
        return below + cap * (1.0 - phi((math.log(cap) - mu) / s))


class FollowDelay(_Model):
    """Delay from a post to each follow it causes: gamma(`shape`, mean `mean_hours`), cut at `max_hours`."""

    mean_hours: float = Field(default=5.0, gt=0.0, le=48.0)
    shape: float = Field(default=1.3, gt=0.0, le=100.0)
    max_hours: float = Field(default=48.0, gt=0.0, le=48.0)


class Organic(_Model):
    """Follows that no post caused, and unfollows."""

    follows_per_day: float = Field(default=1.0, ge=0.0, le=1e6)
    churn_per_day: Rate = 0.005


class Accrual(_Model):
    """Counters visible at age t: total x (1 - exp(-t / tau)), rounded; complete after `full_after_days`."""

    tau_hours: float = Field(default=2.0, gt=0.0, le=168.0)
    full_after_days: float = Field(default=7.0, gt=0.0, le=30.0)


class Faults(_Model):
    """Per-call probabilities of API faults; all 0 by default."""

    timeout: Rate = 0.0
    rate_limited: Rate = 0.0
    server_error: Rate = 0.0
    rate_limit_reset_seconds: float = Field(default=900.0, gt=0.0, le=86400.0)
    timeout_applied: Rate = 0.5

    @model_validator(mode="after")
    def _sum_at_most_one(self) -> Faults:
        total = self.timeout + self.rate_limited + self.server_error
        if total > 1.0:
            raise ConfigError(
                _NO_FILE, "faults", f"timeout + rate_limited + server_error must be at most 1, got {total:g}"
            )
        return self


class Drift(_Model):
    """A change point: from day `day` on, effects are shifted by (or replaced with) `effects`."""

    day: int = Field(ge=0, le=100000)
    mode: Literal["shift", "replace"] = "shift"
    reach_shift: LogEffect = 0.0
    conversion_shift: LogEffect = 0.0
    effects: dict[str, dict[str, Effect]] = Field(default_factory=dict)


class World(_Model):
    """A whole world file. See docs/worlds.md for every parameter."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    seed: int = Field(ge=0, le=2**63 - 1)
    # whose capabilities the simulated platform has: what it shows and how it counts length (sim/profiles.py)
    platform: Literal["x", "bluesky", "mastodon"] = "x"
    start: datetime | None = None
    initial_followers: int = Field(default=30, ge=0, le=10**9)
    injection_rate: Rate = 0.05  # share of the audience's messages that are injection attempts (injections.toml)
    dimensions: dict[str, list[str]] = Field(default_factory=lambda: _default_dimensions())
    reach: Reach = Field(default_factory=Reach)
    funnel: Funnel = Field(default_factory=Funnel)
    hours: Hours = Field(default_factory=Hours)
    fatigue: Fatigue = Field(default_factory=Fatigue)
    virality: Virality = Field(default_factory=Virality)
    follow_delay: FollowDelay = Field(default_factory=FollowDelay)
    organic: Organic = Field(default_factory=Organic)
    accrual: Accrual = Field(default_factory=Accrual)
    faults: Faults = Field(default_factory=Faults)
    effects: dict[str, dict[str, Effect]] = Field(default_factory=dict)
    interactions: list[Interaction] = Field(default_factory=list)
    drift: list[Drift] = Field(default_factory=list)

    @field_validator("start", mode="before")
    @classmethod
    def _parse_start(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"must be an ISO 8601 datetime with a UTC offset, got {value!r}") from None
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"must be timezone-aware (for example 2025-11-03T00:00:00Z), got {value}")
            return check_start(value)
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> World:
        for dim, values in self.dimensions.items():
            if not _NAME.fullmatch(dim):
                raise ConfigError(_NO_FILE, f"dimensions.{dim}", "a dimension name is letters, digits and _")
            if not values:
                raise ConfigError(_NO_FILE, f"dimensions.{dim}", "needs at least one value")
            if len(set(values)) != len(values):
                raise ConfigError(_NO_FILE, f"dimensions.{dim}", "values must be distinct")
            for v in values:
                if not v:
                    raise ConfigError(_NO_FILE, f"dimensions.{dim}", "values must be non-empty strings")
        self._check_effects("effects", self.effects)
        for i, inter in enumerate(self.interactions):
            for dim, value in inter.when.items():
                self._check_value(f"interactions[{i}].when.{dim}", dim, value)
        last = -1
        for i, change in enumerate(self.drift):
            if change.day < last:
                raise ConfigError(
                    _NO_FILE, f"drift[{i}].day", f"change points must be in day order ({change.day} < {last})"
                )
            last = change.day
            self._check_effects(f"drift[{i}].effects", change.effects)
        return self

    def _check_effects(self, prefix: str, effects: Mapping[str, Mapping[str, Effect]]) -> None:
        for dim, by_value in effects.items():
            for value in by_value:
                self._check_value(f"{prefix}.{dim}.{value}", dim, value)

    def _check_value(self, field: str, dim: str, value: str) -> None:
        if dim not in self.dimensions:
            known = ", ".join(self.dimensions)
            raise ConfigError(_NO_FILE, field, f"unknown dimension {dim!r} (known: {known})")
        if value not in self.dimensions[dim]:
            known = ", ".join(self.dimensions[dim])
            raise ConfigError(_NO_FILE, field, f"{value!r} is not a value of {dim} (known: {known})")

    def with_seed(self, seed: int) -> World:
        """The same world with another random seed."""
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**63 - 1:
            raise ConfigError(_NO_FILE, "seed", f"must be an integer in [0, 2**63 - 1], got {seed!r}")
        return self.model_copy(update={"seed": seed})


def check_start(start: datetime) -> datetime:
    """A simulation's start in UTC, if it lies from EARLIEST_START to LATEST_START; else ValueError."""
    try:
        utc = start.astimezone(UTC)
    except OverflowError:  # a year-1 or year-9999 time moved by its offset
        utc = None
    if utc is None or not EARLIEST_START <= utc <= LATEST_START:
        raise ValueError(f"must be from {EARLIEST_START.date()} to {LATEST_START.date()}, got {start.isoformat()}")
    return utc


def _default_dimensions() -> dict[str, list[str]]:
    return {dim: list(values) for dim, values in DEFAULT_DIMENSIONS.items()}


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def default_world_path() -> Path:
    """The packaged default world, calibrated to the seed's account."""
    return Path(__file__).resolve().parent / "worlds" / "default.toml"


def load_world(path: str | Path) -> World:
    """Read and validate a world file. Raises ConfigError on any problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, "<file>", f"cannot read the world file: {_one_line(str(exc))}") from None
    return parse_world(text, name)


def parse_world(text: str, source_name: str = "<string>") -> World:
    """Validate the TOML text of a world; `source_name` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source_name, "<toml>", f"invalid TOML: {_one_line(str(exc))}") from None
    try:
        return World.model_validate(data)
    except ConfigError as exc:
        raise ConfigError(source_name, exc.field, exc.problem) from None
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        field = _dotted(first["loc"])
        problem = _problem(first)
        if len(errors) > 1:
            problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise ConfigError(source_name, field, problem) from None


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<world>"


def _problem(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = str(error["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "float_type":
        msg = "must be a number"
    elif kind == "finite_number":
        msg = "must be a finite number"
    elif kind == "int_type":
        msg = "must be an integer"
    elif kind == "string_type":
        msg = "must be a string"
    elif kind in ("dict_type", "model_type"):
        msg = "must be a table"
    elif kind == "list_type":
        msg = "must be an array"
    elif kind == "datetime_type":
        msg = "must be a datetime with a UTC offset (for example 2025-11-03T00:00:00Z)"
    elif msg.startswith("Input should "):
        msg = "must " + msg.removeprefix("Input should ")
    else:
        msg = msg[:1].lower() + msg[1:]
    if kind not in ("value_error", "assertion_error") and "input" in error:
        shown = repr(error["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg += f" (got {shown})"
    return _one_line(msg)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
