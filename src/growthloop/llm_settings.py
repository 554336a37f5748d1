"""LlmSettings: where the LLM writer connects, which models it uses, what they cost, and its budget.

The API key is not a setting: it comes from the environment variable GROWTHLOOP_LLM_API_KEY only
(never from a file, never stored, never logged; SPEC §3 I10). See ``api_key_from_env``.

The `[llm]` table of the settings: it lives here, below `growthloop.config`, so that reading the configuration
does not import the adapters (the writer in `adapters/generators/llm/` imports it from here).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

API_KEY_ENV = "GROWTHLOOP_LLM_API_KEY"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelPrice(_Strict):
    """USD per 1,000 tokens, as the provider bills them. A local server is priced 0, not left out."""

    prompt_per_1k: float = Field(ge=0)
    completion_per_1k: float = Field(ge=0)


class LlmSettings(_Strict):
    base_url: str = Field(
        default="https://api.openai.com/v1",
        description="OpenAI, or any OpenAI-compatible server (Ollama: http://127.0.0.1:11434/v1)",
    )
    model: str = Field(default="gpt-4o-mini", min_length=1)
    cheap_model: str | None = Field(
        default=None, description="used once spend passes degrade_at of the budget; None keeps `model`"
    )
    timeout_s: float = Field(default=30.0, gt=0, le=86400, description="per HTTP call (at most a day)")
    max_retries: int = Field(default=2, ge=0, le=5, description="retries after the first attempt, per draft")
    max_retry_wait_s: float = Field(
        default=60.0, ge=0, le=86400, description="longest wait on a 429's retry-after; longer rejects the draft"
    )
    max_tokens: int = Field(default=800, gt=0)
    degraded_max_tokens: int = Field(default=300, gt=0)
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens", description="OpenAI's newer models want max_completion_tokens"
    )
    temperature: float | None = Field(default=None, ge=0, le=2, description="None: the server's default")
    json_mode: bool = Field(default=True, description='send response_format {"type": "json_object"}')
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="model -> price; a model missing here is recorded with cost NULL"
    )
    daily_budget_usd: float | None = Field(default=1.0, gt=0, description="per account per UTC day; None: none")
    degrade_at: float = Field(default=0.8, gt=0, le=1, description="share of the budget that switches to degraded")
    prompts_dir: str | None = Field(
        default=None, description="directory of prompt files (system.md, <persona>.md) overriding the bundled ones"
    )

    @model_validator(mode="after")
    def _degraded_is_smaller(self) -> LlmSettings:
        if self.degraded_max_tokens > self.max_tokens:
            raise ValueError("degraded_max_tokens must not exceed max_tokens")
        return self

    def unpriced_models(self) -> list[str]:
        """Configured models without a price: their spend is recorded as unknown and the budget cannot count it."""
        models = [self.model] + ([self.cheap_model] if self.cheap_model else [])
        return [m for m in dict.fromkeys(models) if m not in self.prices]


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(API_KEY_ENV, "").strip()
    return value or None
