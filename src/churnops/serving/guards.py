"""Hostile input gets a 4xx, never a 500: strict JSON, a body-size limit, trusted hosts and origins, bounded 422 answers.

`install(app, settings.api)` registers all of it in one place. The routers that read bodies use
`StrictJSONRoute`, so FastAPI's own body parsing goes through `strict_loads`.

Strict JSON (`strict_loads`) refuses what Python's `json` module lets through: `NaN`, `Infinity`,
numbers that overflow a double (`1e309`), invalid UTF-8, lone surrogates (`"\\ud800"`), a byte-order
mark, and nesting deeper than `MAX_JSON_DEPTH`. Duplicate keys in an object: the last one wins (as in
orjson, Python's json and pydantic), everywhere the API reads JSON, so what is scored is what is stored.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from churnops.settings import ApiSettings

log = logging.getLogger("churnops.guards")

MAX_JSON_DEPTH = 32  # the deepest valid request (dataframe_split rows) nests 4 levels
MAX_REPORTED_ERRORS = 20  # a 422 names the first problems, then says how many more there are
MAX_ECHOED_CHARS = 80  # longer strings are cut in error answers, containers are never echoed
OFF_LOOP_BYTES = 64 * 1024  # JSON bodies at least this large are parsed in a worker thread, not on the event loop
STRICT_JSON_RULES = (
    f"Refused: NaN, Infinity, numbers beyond ±1.8e308, invalid UTF-8, lone surrogates, a byte-order mark, nesting deeper than {MAX_JSON_DEPTH}."
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
LOOPBACK_HOST_PATTERNS = ("127.0.0.1", "localhost", "[::1]")  # Starlette keeps the brackets of an IPv6 Host header


# -- strict JSON --


def strict_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON, refusing NaN/Infinity, overflowing numbers, invalid UTF-8, lone surrogates and deep nesting.

    Raises `json.JSONDecodeError` (orjson's error is a subclass), which FastAPI answers with 422.
    """
    value = orjson.loads(data)
    check_depth(value)
    return value


def check_depth(value: Any) -> None:
    """The nesting half of `strict_loads`, for a value orjson parsed (orjson does the rest)."""
    if _nests_deeper_than(value, MAX_JSON_DEPTH):
        raise json.JSONDecodeError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels", "", 0)


def _nests_deeper_than(value: Any, limit: int) -> bool:
    """Iterative (a recursive walk is what gave RecursionError on deeply nested bodies)."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children: Iterable[Any] = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def is_json_content_type(content_type: str | None) -> bool:
    """What FastAPI reads as JSON: application/json and application/*+json (a missing header is not JSON)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


class StrictJSONRequest(Request):
    """A request whose `.json()` is `strict_loads`, off the event loop for large bodies."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = await run_in_threadpool(strict_loads, body) if len(body) >= OFF_LOOP_BYTES else strict_loads(body)
        return self._json


class StrictJSONRoute(APIRoute):
    """FastAPI's documented custom-route pattern: the endpoint's body is read through `StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def json_body_error(error: json.JSONDecodeError) -> RequestValidationError:
    """The 422 FastAPI gives a body that is not JSON, for endpoints that parse their body themselves."""
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error", "input": {}, "ctx": {"error": error.msg}}]
    )


# -- bounded, always serialisable error answers --


class BoundedValidationError(RequestValidationError):
    """The first errors of many (building every error of a large batch costs more than validating it); `total` counts all."""

    def __init__(self, errors: Sequence[Any], total: int) -> None:
        super().__init__(errors)
        self.total = total


def public_errors(errors: Sequence[Any], with_input: bool = True, total: int | None = None) -> dict[str, Any]:
    """`{"detail": [...]}` with at most MAX_REPORTED_ERRORS entries (and `more` saying how many were left out).

    Inputs are echoed only as short scalars: the whole customer (FastAPI echoes it for a missing field),
    a 45 MB batch, non-finite numbers and raw bytes are not, so the answer is small and always valid JSON.
    """
    total = max(total or 0, len(errors))
    body: dict[str, Any] = {"detail": [public_error(error, with_input) for error in errors[:MAX_REPORTED_ERRORS]]}
    if total > MAX_REPORTED_ERRORS:
        body["more"] = f"and {total - MAX_REPORTED_ERRORS} more errors ({MAX_REPORTED_ERRORS} of {total} shown): fix these and send again"
    return body


def public_error(error: Any, with_input: bool = True) -> dict[str, Any]:
    if not isinstance(error, dict):
        return {"type": "invalid", "loc": [], "msg": _short(str(error), 500)}
    raw_input = error.get("input")
    loc = [part if isinstance(part, int) and not isinstance(part, bool) else _short(str(part)) for part in error.get("loc", ())]
    message = _short(str(error.get("msg", "")), 500)
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        message = f"The body is not valid JSON ({_short(str(reason), 200)}). {STRICT_JSON_RULES}"
    elif isinstance(raw_input, (bytes, bytearray)) and loc == ["body"]:
        message = "The body was not read as JSON: send it with the header Content-Type: application/json."
    entry: dict[str, Any] = {"type": _short(str(error.get("type", "invalid"))), "loc": loc, "msg": message}
    if with_input:
        echoed = _echo(raw_input)
        if echoed is not _NOT_ECHOED:
            entry["input"] = echoed
    context = error.get("ctx")
    if isinstance(context, dict) and with_input:
        entry["ctx"] = {_short(str(key)): _context_value(value) for key, value in list(context.items())[:5]}
    return entry


def _context_value(value: Any) -> Any:
    echoed = _echo(value)
    return echoed if echoed is not _NOT_ECHOED else _short(str(value))


_NOT_ECHOED = object()


def _echo(value: Any) -> Any:
    """A short, JSON-safe copy of a scalar input; _NOT_ECHOED for containers, bytes and anything long."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**18 else _NOT_ECHOED
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _short(value)
    return _NOT_ECHOED


def _short(text: str, limit: int = MAX_ECHOED_CHARS) -> str:
    """Cut to `limit` characters; lone surrogates replaced so the answer always encodes as UTF-8."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return text.encode("utf-8", "replace").decode("utf-8")


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    errors = error.errors() if isinstance(error, RequestValidationError) else [str(error)]
    return JSONResponse(public_errors(errors, total=getattr(error, "total", None)), status_code=422)


# -- body size --


class BodyTooLarge(HTTPException):
    def __init__(self, max_bytes: int, declared: int | None = None) -> None:
        size = f"{declared} bytes" if declared is not None else f"more than {max_bytes} bytes"
        super().__init__(
            413,
            f"The request body is {size}; this service accepts at most {max_bytes} (CHURNOPS_MAX_BODY_BYTES). "
            "Send fewer customers per call, or raise the limit on the server.",
            headers={"Connection": "close"},  # the rest of the body is not read
        )


class BodySizeLimit:
    """413 for a body over `max_bytes`: at once when Content-Length says so, else as soon as the streamed bytes pass it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await _too_large(BodyTooLarge(self.max_bytes, int(declared)), send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge as error:  # FastAPI's routes answer it themselves; this covers any other reader
            if started:
                raise
            await _too_large(error, send)


async def _too_large(error: BodyTooLarge, send: Send) -> None:
    body = json.dumps({"detail": error.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- hosts and origins --


def trusted_hosts(api: ApiSettings) -> list[str]:
    """CHURNOPS_ALLOWED_HOSTS, or the loopback names when bound to loopback, or any host when bound elsewhere."""
    if api.allowed_hosts is not None:
        return [f"[{host}]" if ":" in host and not host.startswith("[") else host for host in api.allowed_hosts]
    return list(LOOPBACK_HOST_PATTERNS) if api.host in LOOPBACK_HOSTS else ["*"]


class WebSocketOrigins:
    """Refuse (HTTP 403) a WebSocket handshake from a browser origin that is not allowed; no Origin header is fine."""

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self.app = app
        self.allowed = {origin.rstrip("/").lower() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and "*" not in self.allowed:
            origin = Headers(scope=scope).get("origin")
            if origin is not None and origin.rstrip("/").lower() not in self.allowed:
                log.warning("refused a WebSocket from origin %r; allow it with CHURNOPS_ALLOWED_ORIGINS", _short(origin))
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed (CHURNOPS_ALLOWED_ORIGINS)"})
                return
        await self.app(scope, receive, send)


def install(app: FastAPI, api: ApiSettings) -> None:
    """Register the guards. Call before adding the request-context middleware, so its metrics and logs see their answers."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodySizeLimit, max_bytes=api.max_body_bytes)  # innermost of the four
    app.add_middleware(
        CORSMiddleware,
        allow_origins=api.allowed_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
    )
    app.add_middleware(WebSocketOrigins, allowed_origins=api.allowed_origins)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts(api))  # outermost: a foreign Host gets 400 first
