"""`churnops llm serve`: the Ollama HTTP API for the local model, close enough that the official `ollama` client
(and anything else written for Ollama) works against it unchanged.

GET|HEAD /            "Ollama is running"
GET  /api/version     {"version": ...}: the Ollama API version whose shape this follows
GET  /api/tags        the one model, under settings.llm.model, with size, digest and details (family, size, quantization)
POST /api/show        its details, GGUF metadata (model_info), template, capabilities
GET  /api/ps          the model, always loaded
POST /api/chat        messages in, the assistant's message out        \\ streamed as application/x-ndjson unless
POST /api/generate    a prompt (or a raw prompt) in, its completion out  / "stream": false, as Ollama does

A request names a model: the configured name or an alias of it (see `aliases`); any other name is a 404 with
Ollama's error shape, as a real Ollama answers for a model it has not pulled. Errors are always {"error": "..."}
(400 for a bad body, 404 for an unknown model or path, 501 for Ollama endpoints a single embedded model cannot
offer). Generation runs in worker threads (the event loop stays free) and queues on the engine's lock.

No `from __future__ import annotations` here: FastAPI reads the route signatures at run time.
"""

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from churnops.llm.engine import Engine, RequestError, Stats, Stream
from churnops.settings import LlmSettings

OLLAMA_API_VERSION = "0.12.0"  # the Ollama release whose API shape (fields, streaming, errors) this server follows
UNSUPPORTED = ("pull", "push", "create", "delete", "copy", "embed", "embeddings", "blobs/{digest}")

log = logging.getLogger(__name__)


# Request bodies: Ollama's fields; unknown fields are ignored, as Ollama (Go's JSON decoder) ignores them.


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | None = ""
    images: list[Any] | None = None
    tool_calls: list[Any] | None = None
    tool_name: str | None = None
    thinking: str | None = None


class GenerationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    stream: bool | None = None  # absent: stream, as Ollama does
    format: Literal["", "json"] | dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None
    think: bool | str | None = None


class ChatRequest(GenerationRequest):
    messages: list[Message] = []
    tools: list[Any] | None = None


class GenerateRequest(GenerationRequest):
    prompt: str | None = None
    system: str | None = None
    raw: bool | None = None
    suffix: str | None = None
    template: str | None = None
    context: list[int] | None = None
    images: list[Any] | None = None


class ShowRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    name: str | None = None  # what older clients send


class OllamaError(Exception):
    """An answer with Ollama's error shape: {"error": message} and a status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def aliases(name: str, engine: Engine) -> set[str]:
    """The names a request may use for the served model, compared case-insensitively: the configured name
    (e.g. smollm2:135m), the same without its tag or with `:latest` when it has none, and the GGUF file's name."""
    found = {name, name.split(":", 1)[0], engine.details.file.name, engine.details.file.stem}
    if ":" not in name:
        found.add(f"{name}:latest")
    return {alias.lower() for alias in found}


class NdjsonStream(StreamingResponse):
    """A streamed answer that always closes its source when the response ends, however it ends: when the client
    goes away Starlette cancels the streaming task and would leave the generator (and the model's lock) to the
    garbage collector; here it is closed at once."""

    media_type = "application/x-ndjson"

    def __init__(self, lines: Iterator[bytes], close: Callable[[], None]) -> None:
        super().__init__(lines, media_type=self.media_type)
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._close()


def create_app(engine: Engine, settings: LlmSettings) -> FastAPI:
    """The Ollama API over `engine`, answering to settings.model (and its aliases)."""
    app = FastAPI(title="churnops llm", version=OLLAMA_API_VERSION, docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(app)
    known = aliases(settings.model, engine)
    loaded_at = datetime.now(UTC)

    def check_model(name: str | None) -> str:
        if not name:
            raise OllamaError(400, "model is required")
        if name.lower() not in known:
            log.warning("asked for model '%s': serving only %s", name, settings.model)
            raise OllamaError(404, f"model '{name}' not found")
        return name

    @app.api_route("/", methods=["GET", "HEAD"], response_class=PlainTextResponse)
    def root() -> str:
        return "Ollama is running"

    @app.api_route("/api/version", methods=["GET", "HEAD"])
    def version() -> dict[str, str]:
        return {"version": OLLAMA_API_VERSION}

    @app.get("/api/tags")
    def tags() -> dict[str, Any]:  # sync: the first call hashes the model file, in a worker thread
        return {"models": [_tag(engine, settings.model)]}

    @app.get("/api/ps")
    def ps() -> dict[str, Any]:
        expires = loaded_at + timedelta(days=365 * 100)  # never unloaded while the server runs
        running = {"expires_at": expires.isoformat(), "size_vram": 0, "context_length": engine.context_tokens}
        return {"models": [{**_tag(engine, settings.model), **running}]}

    @app.post("/api/show")
    async def show(request: Request) -> dict[str, Any]:
        asked: ShowRequest = await _body(request, ShowRequest)
        check_model(asked.model or asked.name)
        return _show(engine)

    @app.post("/api/chat")
    async def chat(request: Request) -> Response:
        asked: ChatRequest = await _body(request, ChatRequest)
        check_model(asked.model)
        _refuse(asked, images=any(message.images for message in asked.messages), tools=bool(asked.tools))
        if not asked.messages:  # Ollama: an empty chat only loads the model
            return JSONResponse(_reply(asked.model, {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "load"}))
        messages = [message.model_dump() for message in asked.messages]

        def piece(text: str) -> dict[str, Any]:
            return {"message": {"role": "assistant", "content": text}}

        return await _answer(
            asked, lambda stream: engine.chat(messages, asked.options, asked.format, stream=stream), piece, f"chat ({len(messages)} messages)"
        )

    @app.post("/api/generate")
    async def generate(request: Request) -> Response:
        asked: GenerateRequest = await _body(request, GenerateRequest)
        check_model(asked.model)
        _refuse(asked, images=bool(asked.images), tools=False)
        for field in ("suffix", "template", "context"):
            if getattr(asked, field):
                raise OllamaError(400, f"'{field}' is not supported by churnops llm serve")
        if not asked.prompt:  # Ollama: an empty prompt only loads the model
            return JSONResponse(_reply(asked.model, {"response": "", "done": True, "done_reason": "load"}))
        prompt = asked.prompt

        def piece(text: str) -> dict[str, Any]:
            return {"response": text}

        return await _answer(
            asked,
            lambda stream: engine.generate(prompt, asked.system, asked.options, asked.format, stream=stream, raw=bool(asked.raw)),
            piece,
            "generate (raw)" if asked.raw else "generate",
        )

    _add_unsupported(app, engine, settings)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OllamaError)
    async def ollama_error(request: Request, error: OllamaError) -> JSONResponse:
        return _error(error.status, error.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail).lower())

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(400, _problems(error.errors()))


def _add_unsupported(app: FastAPI, engine: Engine, settings: LlmSettings) -> None:
    """Ollama's endpoints for managing models and embeddings: a clear 501 rather than a bare 404."""
    for name in UNSUPPORTED:

        @app.post(f"/api/{name}")
        def unsupported(request: Request) -> None:
            raise OllamaError(
                501, f"churnops llm serve serves one model, {settings.model} from {engine.details.file}: {request.url.path} is not offered"
            )


async def _body(request: Request, model: type[BaseModel]) -> Any:
    """The JSON body as `model`, whatever the Content-Type (curl -d sends a form type; Ollama reads JSON anyway)."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as error:
        raise OllamaError(400, f"invalid JSON body: {error}") from None
    if not isinstance(data, dict):
        raise OllamaError(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise OllamaError(400, _problems(error.errors())) from None


def _model_details(engine: Engine) -> dict[str, Any]:
    found = engine.details
    return {
        "parent_model": "",
        "format": "gguf",
        "family": found.family,
        "families": [found.family],
        "parameter_size": found.parameter_size,
        "quantization_level": found.quantization_level,
    }


def _tag(engine: Engine, name: str) -> dict[str, Any]:
    found = engine.details
    return {
        "name": name,
        "model": name,
        "modified_at": found.modified_at.isoformat(),
        "size": found.size,
        "digest": engine.digest(),
        "details": _model_details(engine),
    }


def _show(engine: Engine) -> dict[str, Any]:
    found = engine.details
    trained = f"; trained on a context of {found.trained_context}" if found.trained_context else ""
    return {
        "license": str(found.metadata.get("general.license", "")),
        "modelfile": f"# churnops llm serve: {found.file}{trained}\nFROM {found.file}\n",
        "parameters": f"num_ctx {engine.context_tokens}",
        "template": found.template,
        "details": _model_details(engine),
        "model_info": {**found.metadata, "general.parameter_count": found.parameter_count},
        "capabilities": ["completion"],
        "modified_at": found.modified_at.isoformat(),
    }


def _refuse(asked: GenerationRequest, images: bool, tools: bool) -> None:
    if images:
        raise OllamaError(400, f"model '{asked.model}' does not support images")
    if tools:
        raise OllamaError(400, f"model '{asked.model}' does not support tools")
    if asked.think:
        raise OllamaError(400, f"model '{asked.model}' does not support thinking")


def _reply(model: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"model": model, "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), **fields}


def _problems(errors: Any) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in issue.get('loc', ())) or 'body'}: {issue.get('msg', '')}" for issue in errors)


async def _answer(asked: GenerationRequest, run: Callable[[bool], Any], piece: Callable[[str], dict[str, Any]], what: str) -> Response:
    """Run the engine call in a worker thread; stream its chunks as NDJSON unless "stream": false."""
    stream = asked.stream is not False
    started = time.perf_counter()
    try:
        if not stream:
            completion = await run_in_threadpool(run, False)
            _log(what, asked.model, completion.stats, started)
            return JSONResponse(_reply(asked.model, {**piece(completion.text), "done": True, **completion.stats.as_ollama()}))
        chunks: Stream = run(True)
    except RequestError as error:
        raise OllamaError(400, str(error)) from None
    # The first chunk is read before the response starts (it waits for the model, reads the prompt and checks the
    # format), so what the request gets wrong is a 400, not an error line inside a 200 stream.
    try:
        first = await run_in_threadpool(next, chunks, None)
    except RequestError as error:
        chunks.close()
        raise OllamaError(400, str(error)) from None
    except BaseException:
        chunks.close()
        raise

    sent = [0]  # chunks sent; -1 once the last one is

    def lines() -> Generator[bytes, None, None]:
        try:
            chunk = first
            while chunk is not None:
                if chunk.stats is None:
                    yield _line(_reply(asked.model, {**piece(chunk.text), "done": False}))
                    sent[0] += 1
                else:
                    _log(what, asked.model, chunk.stats, started)
                    sent[0] = -1
                    yield _line(_reply(asked.model, {**piece(chunk.text), "done": True, **chunk.stats.as_ollama()}))
                chunk = next(chunks, None)
        except Exception as error:  # the status is sent: Ollama reports a failure mid-stream as an error line
            log.exception("%s for '%s' failed mid-stream", what, asked.model)
            sent[0] = -1
            yield _line({"error": str(error)})
        finally:
            chunks.close()

    streamed = lines()

    def close() -> None:
        streamed.close()
        chunks.close()  # also when `lines` never started
        if sent[0] >= 0:
            log.info("%s for '%s': the client went away after %d chunks; generation stopped", what, asked.model, sent[0])

    return NdjsonStream(streamed, close)


def _line(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _log(what: str, model: str, stats: Stats, started: float) -> None:
    log.info(
        "%s for '%s': %d prompt tokens, %d tokens (%s) at %.0f tokens/s; waited %.2f s for the model, %.2f s in all",
        what,
        model,
        stats.prompt_eval_count,
        stats.eval_count,
        stats.done_reason,
        stats.tokens_per_second,
        stats.load_duration / 1e9,
        time.perf_counter() - started,
    )


def serve(settings: LlmSettings) -> None:
    """Load the model once, then serve the Ollama API on settings.host:settings.port until stopped."""
    import uvicorn  # noqa: PLC0415 - only the server process needs it

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = Engine.load(settings)
    found = engine.details
    log.info(
        "loaded %s (%s %s, %s, %.0f MB) in %.2f s; context %d tokens",
        found.file,
        found.family,
        found.parameter_size,
        found.quantization_level,
        found.size / 1e6,
        engine.load_seconds,
        engine.context_tokens,
    )
    log.info(
        "Ollama API for model '%s' on http://%s:%d (OLLAMA_HOST=%s:%d)", settings.model, settings.host, settings.port, settings.host, settings.port
    )
    uvicorn.run(create_app(engine, settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)
