"""Settings from a TOML file, GROWTHLOOP_* environment variables and command-line overrides.

Precedence: command line > environment > file > defaults. No I/O happens at import.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from dotenv import load_dotenv
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from growthloop.defaults import DEFAULT_CHANGE_Z, DEFAULT_EXPLORATION, DEFAULT_HALF_LIFE_DAYS, DEFAULT_TEMPERATURE
from growthloop.domain import DEFAULT_BUCKETS, DIMENSIONS
from growthloop.errors import ConfigError
from growthloop.llm_settings import LlmSettings
from growthloop.spend.settings import SpendSettings

DEFAULT_CONFIG_FILE = "growthloop.toml"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# The longest durations accepted (README, Configuration): a job that should run less often than monthly is
# switched off instead, and no single run, wait or health check may take longer than a day.
MAX_INTERVAL = 30 * 86400  # job intervals, checkpoints, the age of a reply opportunity
MAX_TIMEOUT = 86400  # job timeouts, rate-limit waits, HTTP timeouts, doctor's period


def parse_duration(value: Any, maximum: int = MAX_INTERVAL) -> int:
    """'15m', '2h', '7d', '30s' or a number of seconds -> whole seconds, from 1 to `maximum`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '15m', '2h' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as '15m', '2h', '7d' or '30s'")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds) or not 1 <= seconds <= maximum:
        days = maximum // 86400
        raise ValueError(f"{value!r} is not a duration from 1 second to {days} day{'s' if days > 1 else ''}")
    return int(seconds)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class JobSettings(_Strict):
    enabled: bool = True
    interval: int = Field(description="seconds between runs ('15m' and '2h' are accepted)")
    timeout: int = Field(default=120, description="seconds before a run is stopped and reported")

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> int:
        return parse_duration(v)

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, v: Any) -> int:
        return parse_duration(v, MAX_TIMEOUT)


def _default_jobs() -> dict[str, JobSettings]:
    return {
        "followers": JobSettings(interval=15 * 60),
        "metrics": JobSettings(interval=15 * 60),
        "attribute": JobSettings(interval=2 * 3600),
        "learn": JobSettings(interval=2 * 3600),
        "plan": JobSettings(interval=30 * 60),  # the queue holds two hours of posts at 2 an hour
        "post": JobSettings(interval=15 * 60),
        "replies": JobSettings(interval=3600),
    }


class GateConfig(_Strict):
    max_weighted_length: int | None = Field(
        default=None, gt=0, le=100_000, description="a limit below the platform's own; None: the platform's (X 280)"
    )
    banned_phrases: list[str] = Field(default_factory=list)
    duplicate_threshold: float = Field(default=0.8, gt=0, le=1)
    recent_posts: int = Field(
        default=200, ge=0, le=100_000, description="how many recent posts a draft is compared with"
    )
    allow_threads: bool = True


class RepliesConfig(_Strict):
    search_queries: list[str] = Field(
        default_factory=list, description="topic searches for unsummoned opportunities (default: the topics)"
    )
    max_age: int = Field(default=24 * 3600, description="older opportunities are skipped ('24h')")
    min_score: float = Field(default=0.25, ge=0, le=2, description="opportunities scoring less are skipped")
    per_run: int = Field(default=4, ge=0, le=100, description="replies written or drafted per run")
    max_pending_drafts: int = Field(
        default=20, ge=0, le=10_000, description="drafts awaiting a person before no more are written"
    )

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v)


class LearningConfig(_Strict):
    policy: Literal["bayes", "seed", "uniform"] = Field(
        default="bayes",
        description="bayes: Thompson sampling on the Bayesian model; seed: the old system's design; uniform: random",
    )
    exploration: float = Field(
        default=DEFAULT_EXPLORATION, ge=0, le=1, description="the exploration floor: each value keeps this / k"
    )
    temperature: float = Field(
        default=DEFAULT_TEMPERATURE, gt=0, le=1, description="Thompson draws with the posterior sds scaled by this"
    )
    leader_share: float = Field(
        default=1.0,
        ge=0.5,
        le=1,
        description="top-two Thompson sampling: the leader's share of each dimension (1: plain Thompson sampling)",
    )
    draw_conversion: bool = Field(
        default=False,
        description="Thompson draws include the follow part's own effects and kappa (default: at their means)",
    )
    ids: bool = Field(default=False, description="information-directed sampling per dimension instead of Thompson")
    learn_link: bool = Field(default=False, description="learn kappa's prior sd by empirical Bayes (default: fixed)")
    scales_per_dimension: bool = Field(
        default=False, description="value effects' prior sd per part and dimension (default: per part)"
    )
    half_life_days: float = Field(
        default=DEFAULT_HALF_LIFE_DAYS,
        gt=0,
        le=3650,
        description="discounting for drift: a post's weight halves so often",
    )
    history_days: int = Field(default=60, gt=0, le=3650, description="how far back learning reads posts")
    detect_changes: bool = Field(default=True, description="check for change points before each fit (drift)")
    change_threshold: float = Field(
        default=DEFAULT_CHANGE_Z, gt=0, description="a change point: a shift of this many standard errors"
    )
    change_against_before: bool = Field(
        default=False, description="the change check sets a value's recent posts against its own earlier ones"
    )
    insight_confidence: float = Field(default=0.3, ge=0, le=1, description="confidence before a value is quoted")
    insights_per_dimension: int = Field(default=2, ge=0, le=100)


class AlertConfig(_Strict):
    webhook_url: str | None = Field(
        default=None, description="Slack-compatible webhook for failing and recovered doctor checks (a secret)"
    )
    check_every: int = Field(default=300, description="how often `growthloop run` runs doctor ('5m')")

    @field_validator("check_every", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v, MAX_TIMEOUT)


class XConfig(_Strict):
    base_url: str = Field(default="https://api.x.com", description="the X API (a mock server in tests)")
    user_id: str | None = Field(default=None, description="the account's user id; looked up when unset")
    max_wait: int = Field(default=60, description="the longest rate-limit wait inside a job ('1m')")
    timeout: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT, description="seconds per HTTP request")
    search: bool = True

    @field_validator("max_wait", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v, MAX_TIMEOUT)


class MastodonConfig(_Strict):
    base_url: str | None = Field(default=None, description="the instance, e.g. https://mastodon.social (required)")
    max_wait: int = Field(default=60, description="the longest rate-limit wait inside a job ('1m')")
    timeout: float = Field(default=30.0, gt=0, description="seconds per HTTP request")
    search: bool = Field(default=True, description="topic search, where the instance has full-text search")

    @field_validator("max_wait", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v)


class BlueskyConfig(_Strict):
    base_url: str = Field(default="https://bsky.social", description="the account's PDS (a mock or local PDS in tests)")
    timeout: float = Field(default=30.0, gt=0, description="seconds per HTTP request")
    search: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError(f"{v!r} is not an http(s) URL such as https://bsky.social")
        return v


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GROWTHLOOP_", env_nested_delimiter="__", extra="forbid", frozen=True, allow_inf_nan=False
    )

    _fingerprint: str | None = PrivateAttr(default=None)
    # whose secrets the platform reads (growthloop/account_env.py): None, the single-account variables; set by
    # growthloop.accounts.settings_for for every other account of a deployment
    _secrets_account: str | None = PrivateAttr(default=None)

    database_url: str = "sqlite:///growthloop.db"
    broker_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672//", description="the workers' broker (RabbitMQ, or redis://)"
    )
    republish_after: float = Field(
        default=60.0,
        ge=1.0,
        le=3600.0,
        description="seconds a tick of `simulate --accounts` may go without a finished run before its unfinished "
        "slots are published again (a message lost with its broker, or held by a killed worker on Redis)",
    )
    account: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    platform: Literal["sim", "x", "mastodon", "bluesky"] = "sim"
    live: bool = Field(default=False, description="a real platform posts only when true; until then a dry run")
    x: XConfig = Field(default_factory=XConfig)
    mastodon: MastodonConfig = Field(default_factory=MastodonConfig)
    bluesky: BlueskyConfig = Field(default_factory=BlueskyConfig)
    generator: Literal["offline", "llm"] = "offline"
    llm: LlmSettings = Field(default_factory=LlmSettings)
    world: str | None = Field(default=None, description="world file for the simulator; None = the default world")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1, description="overrides the world's random seed")
    niche: str = "sleep, habits and health science"
    buckets: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_BUCKETS.items()})
    posts_per_hour: int = Field(default=2, ge=1, le=60)
    replies_per_hour: int = Field(default=4, ge=0, le=60)
    queue_size: int = Field(default=4, ge=1, le=100, description="ready posts kept in the queue (I8)")
    checkpoints: list[str] = Field(default_factory=lambda: ["15m", "1h", "2h", "6h", "24h", "48h", "7d"])
    jobs: dict[str, JobSettings] = Field(default_factory=_default_jobs)
    gate: GateConfig = Field(default_factory=GateConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)
    replies: RepliesConfig = Field(default_factory=RepliesConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    spend: SpendSettings = Field(default_factory=SpendSettings)
    metrics_port: int | None = Field(default=None, ge=0, le=65535, description="Prometheus endpoint of `run`")

    @field_validator("buckets")
    @classmethod
    def _buckets(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        missing = [d for d in DIMENSIONS if d not in v]
        unknown = [d for d in v if d not in DIMENSIONS]
        if missing or unknown:
            raise ValueError(
                f"needs exactly the dimensions {', '.join(DIMENSIONS)} (missing {missing}, unknown {unknown})"
            )
        for dim, values in v.items():
            if len(values) < 2 or len(set(values)) != len(values):
                raise ValueError(f"{dim}: needs at least two distinct values")
        return v

    @field_validator("checkpoints")
    @classmethod
    def _checkpoints(cls, v: list[str]) -> list[str]:
        seconds = [parse_duration(c) for c in v]
        if seconds != sorted(set(seconds)):
            raise ValueError("checkpoints must be increasing durations such as '15m', '1h', '24h'")
        return v

    @field_validator("jobs", mode="before")
    @classmethod
    def _merge_jobs(cls, v: Any) -> Any:
        # A file that configures one job keeps the defaults of the others.
        if not isinstance(v, Mapping):
            return v
        merged: dict[str, Any] = {k: j.model_dump() for k, j in _default_jobs().items()}
        for name, job in v.items():
            if name not in merged:
                raise ValueError(f"unknown job {name!r} (known: {', '.join(merged)})")
            merged[name] = {**merged[name], **(job.model_dump() if isinstance(job, BaseModel) else job)}
        return merged

    @field_validator("world")
    @classmethod
    def _world_exists(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(f"no such file {v!r}")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))

    @property
    def secrets_account(self) -> str | None:
        return self._secrets_account

    def checkpoint_seconds(self) -> list[tuple[str, int]]:
        return [(c, parse_duration(c)) for c in self.checkpoints]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Settings:
        copy = super().model_copy(update=update, deep=deep)
        copy._fingerprint = None  # the copy's configuration may differ
        return copy

    def fingerprint(self) -> str:
        """A short hash of the effective configuration (I6), printed at start-up and stored.

        The database URL is left out: it says where the loop keeps its rows, not how it behaves (and a
        relative and an absolute path to the same file are the same configuration).
        """
        if self._fingerprint is None:
            data = self.model_dump(mode="json", exclude={"database_url", "broker_url"})
            canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
            self._fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:12]
        return self._fingerprint


# The parsed settings file, handed to the settings source below for one load_settings() call.
_file_data: ContextVar[Mapping[str, Any]] = ContextVar("_file_data", default=MappingProxyType({}))


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _file_data.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_data.get())


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(syntax)", str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read: {exc}") from None


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; any problem is one ConfigError naming the file (or variable) and the field.

    A `.env` file in the working directory is read first: secrets (GROWTHLOOP_X_*, GROWTHLOOP_LLM_API_KEY,
    the alert webhook) come only from the environment or that file, never from the settings file.
    """
    load_dotenv(Path(".env"), override=False)
    path = Path(config_file) if config_file else _default_config_file()
    data = read_toml(path) if path is not None else {}
    _refuse_secrets(data, path)
    token = _file_data.set(data)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise _config_error(exc, path, data, overrides) from None
    except SettingsError as exc:
        raise _environment_error(exc) from None
    finally:
        _file_data.reset(token)


# Secrets the settings model holds, by (table, key): only the environment or `.env` may set them, never the
# settings file (which gets copied, committed and shown). X and LLM keys are not settings at all.
_SECRET_SETTINGS = {("alerts", "webhook_url"): "GROWTHLOOP_ALERTS__WEBHOOK_URL"}


def _refuse_secrets(data: Mapping[str, Any], path: Path | None) -> None:
    for (table, key), variable in _SECRET_SETTINGS.items():
        section = data.get(table)
        if isinstance(section, Mapping) and key in section:
            raise ConfigError(
                str(path),
                f"{table}.{key}",
                f"a secret is never read from the settings file: set {variable} in the environment or .env",
            )


def _default_config_file() -> Path | None:
    named = os.environ.get("GROWTHLOOP_CONFIG")
    if named:
        return Path(named)
    candidate = Path(DEFAULT_CONFIG_FILE)
    return candidate if candidate.is_file() else None


def _config_error(
    exc: ValidationError, path: Path | None, data: Mapping[str, Any], overrides: dict[str, Any]
) -> ConfigError:
    """Blame the source the bad value came from: command line, then environment, then the file."""
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    top = loc[0] if loc else "(settings)"
    variables = _variables_for(top)
    exact = "GROWTHLOOP_" + "__".join(loc).upper()
    if top in {k for k, v in overrides.items() if v is not None}:
        where = {"database_url": "--db"}.get(top, "--" + top.replace("_", "-"))  # the option that set it
    elif variables:
        where = "environment " + (exact if exact in {v.upper() for v in variables} else sorted(variables)[0])
    elif top in data:
        where = str(path)
    else:
        where = str(path) if path else "settings"
    message = first["msg"].removeprefix("Value error, ")
    return ConfigError(where, ".".join(loc) or "(settings)", message)


def _environment_error(exc: SettingsError) -> ConfigError:
    """A variable pydantic-settings could not even parse: a table or list that is not valid JSON."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else "(settings)"
    variables = _variables_for(field)
    cause = " ".join(str(exc.__cause__ or "").split()) or "cannot be parsed"
    where = "environment " + (variables[0] if variables else f"GROWTHLOOP_{field.upper()}")
    return ConfigError(where, field, f"must be JSON for this field ({cause})")


def _variables_for(field: str) -> list[str]:
    """The environment variables that set a top-level field, or a part of it."""
    name = f"GROWTHLOOP_{field.upper()}"
    return sorted(k for k in os.environ if k.upper() == name or k.upper().startswith(name + "__"))
