"""The LLM generator: the `openai` SDK against OpenAI or any OpenAI-compatible server (SPEC §4).

Prompts live in ``prompts/`` (system rules, one file per persona, the brief and reply templates);
spend is recorded per call in llm_usage and held to a daily budget (``budget.py``). A draft that
could not be written raises DraftRejected with its reason (``errors.py``).

Names are imported lazily, so that importing one of them does not load `openai` (about 0.7 s). The
settings (``LlmSettings``, ``ModelPrice``, the API key's variable) live in ``growthloop.llm_settings``, below
the configuration that reads them; they are re-exported here for the writer's users.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from growthloop.adapters.generators.llm.budget import (
        BudgetLevel,
        BudgetState,
        SpendSummary,
        budget_state,
        call_cost,
        cost_per_posted_item,
        record_usage,
        spend_summary,
    )
    from growthloop.adapters.generators.llm.errors import DraftRejected
    from growthloop.adapters.generators.llm.prompting import Prompts, build_messages
    from growthloop.adapters.generators.llm.writer import LlmGenerator
    from growthloop.llm_settings import API_KEY_ENV, LlmSettings, ModelPrice, api_key_from_env

_WHERE = {
    "BudgetLevel": "budget",
    "BudgetState": "budget",
    "SpendSummary": "budget",
    "budget_state": "budget",
    "call_cost": "budget",
    "cost_per_posted_item": "budget",
    "record_usage": "budget",
    "spend_summary": "budget",
    "DraftRejected": "errors",
    "Prompts": "prompting",
    "build_messages": "prompting",
    "API_KEY_ENV": "growthloop.llm_settings",
    "LlmSettings": "growthloop.llm_settings",
    "ModelPrice": "growthloop.llm_settings",
    "api_key_from_env": "growthloop.llm_settings",
    "LlmGenerator": "writer",
}

__all__ = [
    "API_KEY_ENV",
    "BudgetLevel",
    "BudgetState",
    "DraftRejected",
    "LlmGenerator",
    "LlmSettings",
    "ModelPrice",
    "Prompts",
    "SpendSummary",
    "api_key_from_env",
    "budget_state",
    "build_messages",
    "call_cost",
    "cost_per_posted_item",
    "record_usage",
    "spend_summary",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module if "." in module else f"{__name__}.{module}"), name)
