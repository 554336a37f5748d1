"""The LLM writer: the Generator port on the `openai` SDK, for OpenAI or any OpenAI-compatible server.

``LlmGenerator.write(brief)`` either returns a Draft or raises DraftRejected with its reason:

* the prompt comes from files (``prompting.py``): system rules, the persona, and a user message
  with every chosen dimension value and the learned insights;
* the answer must be the JSON object {"parts": [...]}, validated (``output.py``);
* a malformed or refused answer, a timeout, a 429, a 5xx or a connection failure is retried,
  at most ``max_retries`` times, then the draft is rejected with what went wrong;
* a 4xx other than 429 (authentication, unknown model, bad request) is rejected at once;
* every call that reports usage leaves an llm_usage row (tokens, cost from the price table);
* before each call, today's spend is read: past ``degrade_at`` x budget the writer uses the cheap
  model and the smaller output; at the budget it makes no call and rejects the draft.

The SDK's own retries are off (``max_retries=0``) so that every attempt is seen and recorded here;
waits between attempts go through the Clock. The API key comes from GROWTHLOOP_LLM_API_KEY only,
and is scrubbed from every reason and log line (SPEC §3 I10).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx2
import openai
import structlog
from openai import omit
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONObject

from growthloop import redact
from growthloop.adapters.generators.llm.budget import BudgetLevel, BudgetState, budget_state, record_usage
from growthloop.adapters.generators.llm.errors import (
    BUDGET,
    MALFORMED,
    PERSONA,
    RATE_LIMITED,
    REFUSED,
    REQUEST_REFUSED,
    SERVER_ERROR,
    TIMEOUT,
    DraftRejected,
)
from growthloop.adapters.generators.llm.output import parse_completion
from growthloop.adapters.generators.llm.prompting import (
    REPLY_SHAPE,
    PromptMissing,
    Prompts,
    Shape,
    build_messages,
    build_reply_messages,
    correction_message,
    shape_of,
)
from growthloop.adapters.store.store import SqlStore
from growthloop.domain import Brief, Draft, Mention
from growthloop.llm_settings import LlmSettings, api_key_from_env
from growthloop.ports import Clock
from growthloop.text import length_counter

log = structlog.get_logger("growthloop.llm")

# Sent when no key is configured: local servers (Ollama, vLLM, llama.cpp) ignore it, and it keeps
# the SDK from falling back to OPENAI_API_KEY (the key comes from GROWTHLOOP_LLM_API_KEY only).
_NO_KEY = "no-key"

_LABELS = {
    MALFORMED: "malformed answer",
    REFUSED: "refused",
    TIMEOUT: "timed out",
    RATE_LIMITED: "rate limited",
    SERVER_ERROR: "LLM server error",
}
_HINTS = {
    401: "authentication failed: check GROWTHLOOP_LLM_API_KEY",
    403: "permission denied for this key or model",
    404: "not found: check llm.base_url and the model name",
}


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from a 429's retry-after-ms or retry-after (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo is not None else None


def _summary(failures: list[tuple[str, str]]) -> str:
    """'malformed answer: ... (x2); refused: ...': consecutive repeats folded."""
    folded: list[list[object]] = []
    for kind, problem in failures:
        text = f"{_LABELS.get(kind, kind)}: {problem}"
        if folded and folded[-1][0] == text:
            folded[-1][1] = int(str(folded[-1][1])) + 1
        else:
            folded.append([text, 1])
    return "; ".join(f"{text} (x{count})" if int(str(count)) > 1 else str(text) for text, count in folded)


class LlmGenerator:
    """The Generator port on an OpenAI-compatible chat completions endpoint.

    ``write(brief)`` returns a Draft, or raises DraftRejected (its ``reason`` is safe to store).
    """

    name = "llm"

    def __init__(
        self,
        store: SqlStore,
        account: str,
        clock: Clock,
        settings: LlmSettings,
        http_client: httpx2.Client | None = None,  # the HTTP edge (the SDK's own when None; a fake in tests)
    ) -> None:
        self.store = store
        self.account = account
        self.clock = clock
        self.settings = settings
        self.prompts = Prompts(settings.prompts_dir)
        key = api_key_from_env()
        self._secret = key
        self._client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=key or _NO_KEY,
            timeout=settings.timeout_s,
            max_retries=0,
            http_client=http_client,
        )
        self._level: BudgetLevel | None = None

    def __repr__(self) -> str:  # never the key
        s = self.settings
        return f"LlmGenerator(account={self.account!r}, base_url={s.base_url!r}, model={s.model!r})"

    def close(self) -> None:
        self._client.close()

    # -- the port ------------------------------------------------------------------------------

    def write(self, brief: Brief) -> Draft:
        """A post or a thread to the brief, or DraftRejected with the reason."""
        try:
            messages = build_messages(brief, self.prompts)
        except PromptMissing as exc:
            raise self._reject(brief, str(exc), PERSONA, 0) from None
        return self._generate(brief, messages, shape_of(brief))

    def write_reply(self, brief: Brief, mention: Mention) -> Draft:
        """A one-part reply to `mention`, or DraftRejected. The mention's text is untrusted data (SPEC §2.10):
        it goes in fenced; what comes out is checked against the account's voice by the replies stage
        (loop/voice.py), whatever the model did with it."""
        try:
            messages = build_reply_messages(brief, mention, self.prompts)
        except PromptMissing as exc:
            raise self._reject(brief, str(exc), PERSONA, 0) from None
        return self._generate(brief, messages, REPLY_SHAPE)

    def _generate(
        self,
        brief: Brief,
        base: list[ChatCompletionMessageParam],
        shape: Shape,
        check: Callable[[tuple[str, ...]], str | None] | None = None,
    ) -> Draft:
        persona = brief.dimensions.get("generator", "")
        messages = list(base)
        failures: list[tuple[str, str]] = []
        attempts = 0
        s = self.settings
        for attempt in range(s.max_retries + 1):
            state = self._budget()
            if state.level is BudgetLevel.STOPPED:
                reason = state.reason
                if failures:
                    reason += f", after {attempts} attempts: {_summary(failures)}"
                raise self._reject(brief, reason, BUDGET, attempts)
            degraded = state.level is BudgetLevel.DEGRADED
            model = (s.cheap_model or s.model) if degraded else s.model
            max_tokens = s.degraded_max_tokens if degraded else s.max_tokens
            last = attempt == s.max_retries
            attempts += 1
            try:
                completion = self._call(messages, model, max_tokens)
            except openai.RateLimitError as exc:
                wait = _retry_after(exc.response.headers, self.clock.now())
                if wait is not None and wait > s.max_retry_wait_s:
                    problem = f"HTTP 429, retry after {wait:.0f} s (over max_retry_wait_s {s.max_retry_wait_s:g})"
                    failures.append((RATE_LIMITED, problem))
                    raise self._reject(brief, self._final(failures, attempts), RATE_LIMITED, attempts) from None
                failures.append((RATE_LIMITED, "HTTP 429"))
                self._note(brief, failures[-1], attempts)
                if not last:
                    self._pause(wait if wait is not None else float(2**attempt))
                continue
            except openai.APITimeoutError:
                failures.append((TIMEOUT, f"no answer within {s.timeout_s:g} s"))
                self._note(brief, failures[-1], attempts)
                continue
            except openai.APIConnectionError:
                failures.append((SERVER_ERROR, "could not connect"))
                self._note(brief, failures[-1], attempts)
                if not last:
                    self._pause(float(2**attempt))
                continue
            except openai.APIStatusError as exc:
                code = exc.status_code
                if code >= 500 or code in (408, 409):
                    failures.append((SERVER_ERROR, f"HTTP {code}"))
                    self._note(brief, failures[-1], attempts)
                    if not last:
                        self._pause(float(2**attempt))
                    continue
                hint = _HINTS.get(code, "")
                reason = f"the LLM server refused the request (HTTP {code}{': ' + hint if hint else ''})"
                raise self._reject(brief, reason, REQUEST_REFUSED, attempts) from None
            except (openai.OpenAIError, ValueError) as exc:  # e.g. a body the SDK could not decode
                failures.append((SERVER_ERROR, f"unreadable response ({type(exc).__name__})"))
                self._note(brief, failures[-1], attempts)
                continue
            if not isinstance(completion, ChatCompletion):  # a 200 whose body was not JSON
                failures.append((SERVER_ERROR, "the response is not a chat completion"))
                self._note(brief, failures[-1], attempts)
                continue

            self._record(brief, completion, model)
            try:
                outcome = parse_completion(completion, shape, brief.max_weighted_length, length_counter(brief.length))
            except (AttributeError, TypeError):  # the SDK builds lax objects from odd JSON: missing fields
                failures.append((SERVER_ERROR, "the response is not a chat completion"))
                self._note(brief, failures[-1], attempts)
                continue
            problem_found = check(outcome.parts) if outcome.ok and check is not None else None
            if outcome.ok and problem_found is None:
                return Draft(parts=outcome.parts, generator=persona, dimensions=dict(brief.dimensions))
            kind = outcome.kind or MALFORMED
            problem = outcome.problem or problem_found or "unusable answer"
            failures.append((kind, problem))
            self._note(brief, failures[-1], attempts)
            if kind == MALFORMED:
                # Show the model its answer and what was wrong with it; refusals are simply asked again.
                answer = (completion.choices[0].message.content or "") if completion.choices else ""
                messages = [
                    *base,
                    {"role": "assistant", "content": answer[:4000]},
                    correction_message(brief, self.prompts, problem, shape),
                ]
        raise self._reject(brief, self._final(failures, attempts), failures[-1][0], attempts)

    # -- helpers -------------------------------------------------------------------------------

    def _call(self, messages: list[ChatCompletionMessageParam], model: str, max_tokens: int) -> ChatCompletion:
        s = self.settings
        json_object: ResponseFormatJSONObject = {"type": "json_object"}
        return self._client.chat.completions.create(
            model=model,
            messages=messages,
            max_tokens=max_tokens if s.max_tokens_param == "max_tokens" else omit,
            max_completion_tokens=max_tokens if s.max_tokens_param == "max_completion_tokens" else omit,
            temperature=s.temperature if s.temperature is not None else omit,
            response_format=json_object if s.json_mode else omit,
        )

    def _budget(self) -> BudgetState:
        with self.store.connect() as conn:
            state = budget_state(conn, self.account, self.clock.now(), self.settings)
        if state.level is not self._level:
            if state.level is not BudgetLevel.NORMAL or self._level is not None:
                log.warning("llm.budget_level", account=self.account, level=str(state.level), detail=state.reason)
            self._level = state.level
        return state

    def _record(self, brief: Brief, completion: ChatCompletion, model: str) -> None:
        usage = completion.usage
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        if not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int):
            log.warning(
                "llm.usage_missing",
                account=self.account,
                decision_id=brief.decision_id,
                model=model,
                detail="the server reported no token usage for this call: its spend is not recorded",
            )
            return
        cost = record_usage(
            self.store,
            self.account,
            self.clock.now(),
            brief.decision_id,
            model,
            prompt_tokens,
            completion_tokens,
            self.settings.prices,
        )
        log.info(
            "llm.call",
            account=self.account,
            decision_id=brief.decision_id,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
        )

    def _pause(self, seconds: float) -> None:
        self.clock.sleep_until(self.clock.now() + timedelta(seconds=seconds))

    def _scrub(self, text: str) -> str:
        return redact.scrub(text, [self._secret] if self._secret else [])

    def _final(self, failures: list[tuple[str, str]], attempts: int) -> str:
        return f"no usable draft after {attempts} attempt{'s' if attempts != 1 else ''}: {_summary(failures)}"

    def _note(self, brief: Brief, failure: tuple[str, str], attempt: int) -> None:
        kind, problem = failure
        log.warning(
            "llm.attempt_failed",
            account=self.account,
            decision_id=brief.decision_id,
            attempt=attempt,
            kind=kind,
            problem=self._scrub(problem),
        )

    def _reject(self, brief: Brief, reason: str, kind: str, attempts: int) -> DraftRejected:
        reason = self._scrub(reason)
        log.warning("llm.draft_rejected", account=self.account, decision_id=brief.decision_id, kind=kind, reason=reason)
        return DraftRejected(reason, kind, attempts)
