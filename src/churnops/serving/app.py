"""The FastAPI application: `create_app(settings)`; `churnops serve` runs it under uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from churnops.model.served import ModelUnavailable
from churnops.serving import docs, guards
from churnops.serving.jobs import JobConflict, RetrainRefused
from churnops.serving.logs import configure_json_logging, request_id
from churnops.serving.routes import admin, comments, feedback, operations, predictions
from churnops.serving.service import Service
from churnops.settings import Settings
from churnops.store import WalError

access_log = logging.getLogger("churnops.access")

DESCRIPTION = """Churn predictions from the registry's **champion** model.

* `POST /predict` one customer, `POST /predict/batch` many, `WS /ws/predict` one per message,
  `POST /invocations` for clients of `mlflow models serve`.
* Every prediction is stored; send the true outcome to `POST /feedback` with its `prediction_id`.
* `POST /explain` scores one customer as `/predict` does, with each feature's effect, and stores nothing.
* `GET /model` says which version answers, `GET /contract` what it takes; the service follows the alias and swaps versions live.
* `POST /comments/analyze` analyses a customer comment with the LLM service (sentiment, churn risk, reasons) and stores it.
* Admin endpoints (reload, promote, rollback, retrain) need the `X-API-Key` header.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        # What start-up built (libraries, the model) lives as long as the process: out of the cyclic collector's
        # sight, the collections that each request's objects trigger no longer scan it (/predict/batch: +45%).
        gc.collect()
        gc.freeze()
        flusher = asyncio.create_task(service.flush_request_log_periodically())
        try:
            yield
        finally:
            flusher.cancel()
            service.stop()  # flushes the request log and the prediction store

    # FastAPI's docs pages load from a CDN and its docs routes escape the request-log filter: docs.register adds its own.
    app = FastAPI(
        title="churnops prediction API", version="1", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.service = service
    _mount_predictions(app, service)
    service.on_contract_change = lambda: _mount_predictions(app, service)
    app.include_router(feedback.router)
    app.include_router(operations.router)
    app.include_router(admin.router)
    app.include_router(comments.router)
    docs.register(app)
    app.add_exception_handler(ModelUnavailable, _unavailable)
    app.add_exception_handler(JobConflict, _conflict)
    app.add_exception_handler(RetrainRefused, _refused)
    app.add_exception_handler(WalError, _not_durable)
    guards.install(app, settings.api)  # body size, hosts, origins, bounded 422s; inside RequestContext, which counts their answers
    app.add_middleware(RequestContext, service=service)
    return app


def _mount_predictions(app: FastAPI, service: Service) -> None:
    """(Re)build the prediction routes from the service's current contract.

    The request models are generated from the served version's contract; when the alias moves to a
    version trained on other columns, the routes are rebuilt and swapped in with one assignment.
    """
    routes = predictions.build_router(service).routes
    previous = {id(route) for route in getattr(app.state, "prediction_routes", [])}
    app.router.routes = [route for route in app.router.routes if id(route) not in previous] + routes
    app.state.prediction_routes = routes
    app.openapi_schema = None  # regenerated on the next /openapi.json


def create_app_from_environment() -> FastAPI:
    """uvicorn's factory (`churnops serve`): settings from CHURNOPS_* variables, JSON logs in every worker."""
    settings = Settings()
    configure_json_logging(settings.api.log_level)
    return create_app(settings)


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "10"})


async def _conflict(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=409)


async def _not_durable(request: Request, error: Exception) -> JSONResponse:
    """The prediction may still reach the store, but it could not be made durable, so it is not acknowledged."""
    return JSONResponse({"detail": f"The prediction was not stored durably: {error}"}, status_code=503, headers={"Retry-After": "10"})


async def _refused(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=422)


class RequestContext:
    """Request id (from X-Request-ID or new), echoed in the response; request metrics and log row; one JSON access line.

    A plain ASGI middleware: cheaper per request than BaseHTTPMiddleware, which matters at 1-2 ms per call.
    """

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        current = incoming[:64] if incoming else os.urandom(16).hex()  # as random as uuid4().hex, a third of its cost
        token = request_id.set(current)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", current.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route: Any = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            self.service.observe_request(endpoint, scope["method"], status, seconds)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={"method": scope["method"], "path": scope["path"], "status": status, "duration_ms": round(seconds * 1000, 3)},
            )
            request_id.reset(token)
