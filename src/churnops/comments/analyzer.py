"""Analyse one comment with an LLM behind the Ollama API, as an MLflow trace: load prompt → model call → parse.

The model's answer is constrained to CommentAnalysis's JSON schema (Ollama's `format`). An answer that
still does not validate (cut off at the token limit, say) is asked for once more, sampled,
then recorded as a failure; it never raises. What does raise is what no retry can fix: the Ollama API
unreachable, or the model unknown to it.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import httpx
import mlflow
import ollama
from mlflow.entities import SpanType
from mlflow.tracing.constant import SpanAttributeKey
from pydantic import ValidationError

from churnops.comments.analysis import CommentAnalysis
from churnops.comments.prompts import Prompt, load_prompt
from churnops.errors import ChurnopsError, ConfigError
from churnops.settings import Settings

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
SCHEMA = CommentAnalysis.model_json_schema()
SEED = 7  # the same comment gets the same answer from the same prompt and model
RETRY_TEMPERATURE = 0.6


class LlmUnavailable(ChurnopsError):
    """The Ollama API cannot be reached: nothing is analysed until it can."""


def ollama_host(settings: Settings) -> str:
    return settings.llm.ollama_host or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST


@dataclass
class Outcome:
    """One analysis, success or failure: what the store's comment_analyses row holds."""

    text: str
    ok: bool
    model: str
    prompt_name: str
    prompt_version: int | None
    attempts: int
    latency_ms: float
    analysis: CommentAnalysis | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    trace_id: str | None = None
    comment_id: str | None = None
    customer_id: str | None = None
    comment_date: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    analyzed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def answer(self) -> dict[str, Any]:
        """The analysis's fields (sentiment, churn_risk, reasons, summary), all None for a failure."""
        return self.analysis.model_dump() if self.analysis else dict.fromkeys(CommentAnalysis.model_fields)

    def as_row(self, source: str, run_id: str | None = None) -> dict[str, Any]:
        row = {key: value for key, value in asdict(self).items() if key != "analysis"}
        return {**row, **self.answer(), "source": source, "run_id": run_id}


class Analyzer:
    """Analyses comments with the prompt at `@alias` (or a fixed version) through the Ollama API at `ollama_host(settings)`."""

    def __init__(self, settings: Settings, prompt_version: int | None = None, client: ollama.Client | None = None) -> None:
        self.settings = settings
        self.prompt_version = prompt_version
        self.host = ollama_host(settings)
        self.client = client or ollama.Client(host=self.host, timeout=settings.llm.timeout_seconds)

    def prompt(self) -> Prompt:
        return load_prompt(self.settings.comments, self.prompt_version)

    def analyze(self, text: str, *, comment_id: str | None = None, customer_id: str | None = None, comment_date: str | None = None) -> Outcome:
        started = time.perf_counter()
        with mlflow.start_span(name="analyze_comment", span_type=SpanType.CHAIN) as root:
            root.set_inputs({"text": text, "comment_id": comment_id, "customer_id": customer_id})
            with mlflow.start_span(name="load_prompt", span_type=SpanType.RETRIEVER) as span:
                span.set_inputs(
                    {"name": self.settings.comments.prompt_name, "alias": self.settings.comments.prompt_alias, "version": self.prompt_version}
                )
                prompt = self.prompt()
                span.set_outputs({"uri": prompt.uri, "version": prompt.version})
            outcome = self._answer(prompt, text, started)
            outcome.comment_id, outcome.customer_id, outcome.comment_date = comment_id, customer_id, comment_date
            outcome.trace_id = root.trace_id
            root.set_attributes({"prompt_uri": prompt.uri, "prompt_version": prompt.version, "model": outcome.model, "attempts": outcome.attempts})
            root.set_outputs(outcome.analysis.model_dump() if outcome.analysis else {"error": outcome.error})
            if not outcome.ok:
                root.set_status("ERROR")
        return outcome

    def _answer(self, prompt: Prompt, text: str, started: float) -> Outcome:
        model = self.settings.llm.model
        messages = prompt.format(text)
        failure = Outcome(text=text, ok=False, model=model, prompt_name=prompt.name, prompt_version=prompt.version, attempts=0, latency_ms=0.0)
        prompt_tokens = completion_tokens = 0
        # The retry samples (another seed, some temperature): the same greedy call would give the same answer again.
        for attempt, temperature in ((1, prompt.temperature), (2, max(prompt.temperature, RETRY_TEMPERATURE))):
            options = {"temperature": temperature, "num_predict": self.settings.llm.max_tokens, "seed": SEED + attempt - 1}
            failure.attempts = attempt
            try:
                content, used = self._call(model, messages, options)
            except httpx.TimeoutException:
                failure.error = f"the model did not answer within {self.settings.llm.timeout_seconds:g} s (CHURNOPS_LLM_TIMEOUT_SECONDS)"
                continue
            except ollama.ResponseError as exc:
                if exc.status_code == HTTPStatus.NOT_FOUND:
                    raise ConfigError(
                        f"The Ollama API at {self.host} has no model {model!r} ({exc.error}): pull it (`ollama pull {model}`) "
                        "or set CHURNOPS_LLM_MODEL to one it has."
                    ) from None
                failure.error = f"the Ollama API answered {exc.status_code}: {exc.error}"
                continue
            prompt_tokens += used[0]
            completion_tokens += used[1]
            with mlflow.start_span(name="parse", span_type=SpanType.PARSER) as span:
                span.set_inputs({"content": content})
                try:
                    analysis = CommentAnalysis.model_validate_json(content)
                except ValidationError as exc:
                    failure.error = f"attempt {attempt}: the answer is not a valid analysis: {_first_error(exc)}"
                    span.set_status("ERROR")
                    span.set_outputs({"error": failure.error})
                    continue
                span.set_outputs(analysis.model_dump())
            return Outcome(
                text=text,
                ok=True,
                model=model,
                prompt_name=prompt.name,
                prompt_version=prompt.version,
                attempts=attempt,
                latency_ms=(time.perf_counter() - started) * 1000,
                analysis=analysis,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
        failure.latency_ms = (time.perf_counter() - started) * 1000
        failure.prompt_tokens, failure.completion_tokens = prompt_tokens or None, completion_tokens or None
        return failure

    def _call(self, model: str, messages: list[dict[str, str]], options: dict[str, Any]) -> tuple[str, tuple[int, int]]:
        with mlflow.start_span(name="model_call", span_type=SpanType.CHAT_MODEL) as span:
            span.set_inputs({"model": model, "messages": messages, "options": options, "host": self.host})
            started = time.perf_counter()
            try:
                response = self.client.chat(model=model, messages=messages, format=SCHEMA, options=options, stream=False)
            except (httpx.ConnectError, ConnectionError) as exc:
                raise LlmUnavailable(
                    f"Cannot reach the Ollama API at {self.host} ({exc}). Start the embedded one with `churnops llm serve`, "
                    "or point CHURNOPS_OLLAMA_HOST (or OLLAMA_HOST) at a running Ollama."
                ) from None
            content = response.message.content or ""
            used = (int(response.prompt_eval_count or 0), int(response.eval_count or 0))
            span.set_outputs({"content": content, "done_reason": response.done_reason})
            span.set_attributes(
                {
                    SpanAttributeKey.CHAT_USAGE: {"input_tokens": used[0], "output_tokens": used[1], "total_tokens": sum(used)},
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    "done_reason": response.done_reason or "",
                }
            )
            return content, used


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "answer"
    return f"{where}: {first.get('msg', 'invalid')}"
