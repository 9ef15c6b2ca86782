"""Prediction endpoints. Built per app because the request models come from the app's contract.

(No `from __future__ import annotations` here: FastAPI reads these signatures' types at runtime.)
"""

import json
from typing import Any

import orjson
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from churnops.model.served import ModelUnavailable
from churnops.serving.batch_validation import BatchValidator
from churnops.serving.deps import ServiceDep
from churnops.serving.guards import (
    MAX_REPORTED_ERRORS,
    BoundedValidationError,
    StrictJSONRoute,
    check_depth,
    is_json_content_type,
    json_body_error,
    public_errors,
    strict_loads,
)
from churnops.serving.invocations import InvocationsInputError, openapi_request_body, parse_payload
from churnops.serving.schemas import BatchPrediction, ErrorBody, Explanation, InvocationsError, InvocationsResult, Prediction
from churnops.serving.service import Service
from churnops.store import WalError

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be read."},
    413: {"model": ErrorBody, "description": "The body is larger than CHURNOPS_MAX_BODY_BYTES."},
    503: {"model": ErrorBody, "description": "No model is loaded; the body says why."},
}

# FastAPI documents its 422 only for typed parameters; the batch endpoint validates its raw body itself.
VALIDATION_ERROR: dict[str, Any] = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
}


def build_router(service: Service) -> APIRouter:
    router = APIRouter(tags=["predictions"], route_class=StrictJSONRoute)
    Customer = service.customer_model  # noqa: N806 - a class
    BatchRequest = service.batch_model  # noqa: N806
    batch_validator = BatchValidator(service.contract)

    # The prediction endpoints return ready JSON: the rows are built by our own code, and re-validating
    # them against response_model costs more than scoring (about 14 ms per 1000 rows). The declared
    # response_model still documents them, and the Schemathesis test checks responses against it.
    @router.post("/predict", response_model=Prediction, responses=UNAVAILABLE)
    async def predict(customer: Customer) -> Response:  # type: ignore[valid-type]
        """Churn probability and label for one customer, at the served model's threshold."""
        # `service` from build_router, not a dependency: resolving one is a measurable share of a single prediction.
        record = customer.model_dump()  # type: ignore[attr-defined]
        scored = await service.predict_one(record, "predict")
        return _json(service.prediction_rows(scored, [record])[0])

    @router.post("/explain", response_model=Explanation, responses=UNAVAILABLE)
    async def explain(customer: Customer, service: ServiceDep) -> Response:  # type: ignore[valid-type]
        """/predict's probability for one customer and each feature's effect on it, against the typical training customer.

        Each feature in turn is set to the typical customer's value (`GET /contract`'s example) and the customer
        scored again: `effect` is the probability minus that one (positive: this value pushes the risk up).
        Nothing is stored and nothing counts as a prediction in the metrics: for "why" and "what if" questions."""
        return _json(service.explain(customer.model_dump()))  # type: ignore[attr-defined]

    # A batch is read as raw bytes and parsed and validated in a worker thread: a large body must not
    # stall the event loop (and /health with it). The request schema is documented through openapi_extra.
    @router.post(
        "/predict/batch",
        response_model=BatchPrediction,
        responses={**UNAVAILABLE, 422: VALIDATION_ERROR},
        openapi_extra={"requestBody": _request_body(BatchRequest)},
    )
    async def predict_batch(request: Request, service: ServiceDep) -> Response:
        """Predictions for up to `max_batch_size` customers, in the order sent."""
        body = await request.body()
        records = await run_in_threadpool(
            _batch_records, body, request.headers.get("content-type"), BatchRequest, Customer, service.settings.api.max_batch_size, batch_validator
        )
        scored = await service.predict(records, "batch")
        rows = service.prediction_rows(scored, records)
        return _json({"model_name": scored.model.name, "model_version": scored.model.version, "count": len(rows), "predictions": rows})

    @router.post(
        "/invocations",
        response_model=InvocationsResult,
        responses={
            **UNAVAILABLE,
            400: {"model": InvocationsError, "description": "The payload cannot be read as customers."},
            415: {"model": InvocationsError, "description": "The Content-Type is neither JSON nor CSV."},
        },
        openapi_extra={"requestBody": openapi_request_body(service.example)},
    )
    async def invocations(request: Request, service: ServiceDep) -> Any:
        """MLflow scoring-server formats (`dataframe_split`, `dataframe_records`, `inputs`, CSV); answers as `mlflow models serve` does."""
        body = await request.body()
        try:
            records = await run_in_threadpool(parse_payload, body, request.headers.get("content-type"), Customer, service.settings.api.max_batch_size)
        except InvocationsInputError as error:
            return JSONResponse({"error_code": "BAD_REQUEST", "message": str(error)}, status_code=error.status_code)
        scored = await service.predict(records, "invocations")
        rows = zip(scored.probabilities, scored.churn, strict=True)
        return _json({"predictions": [{"churn_probability": probability, "churn": churn} for probability, churn in rows]})

    @router.websocket("/ws/predict")
    async def predict_stream(websocket: WebSocket) -> None:
        """One customer (JSON object) per message in, one prediction (or an error object) per message out."""
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                await websocket.send_json(await _answer(service, Customer, text if text is not None else message.get("bytes") or b""))
        except WebSocketDisconnect:
            return

    return router


def _request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The typed request body FastAPI would document; the customer schema it refers to is in the components (from /predict)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _batch_records(
    body: bytes,
    content_type: str | None,
    batch_model: type[BaseModel],
    customer_model: type[BaseModel],
    max_customers: int,
    batch_validator: BatchValidator | None = None,
) -> list[dict[str, Any]]:
    """What FastAPI does for a typed body (strict JSON, then the model; errors as its 422), run in a worker thread.

    A batch of plain, valid customers is validated column by column (batch_validation.py, about 20x faster);
    any other is validated one customer at a time: one pydantic call over the whole list would hold the GIL,
    and with it the event loop, for as long as the whole batch takes.
    """
    payload = _parsed(body, content_type)
    customers = payload.get("customers") if isinstance(payload, dict) and payload.keys() == {"customers"} else None
    if not isinstance(customers, list) or not 1 <= len(customers) <= max_customers:
        _check_depth(payload)
        try:  # the envelope is wrong: the batch model says how, and fast (a too-long list fails before its items are read)
            batch = batch_model.model_validate(payload)
        except ValidationError as error:
            raise RequestValidationError(_body_errors(error, ())) from None
        return [customer.model_dump() for customer in batch.customers]  # type: ignore[attr-defined]
    if batch_validator is not None and (plain := batch_validator.validate(customers)) is not None:
        return plain  # every value a scalar: nothing nests too deep
    _check_depth(payload)
    return _validated_one_by_one(customers, customer_model)


def _parsed(body: bytes, content_type: str | None) -> Any:
    """The JSON body as orjson reads it (the nesting is checked only where it can matter); other bodies as bytes, for the model to refuse."""
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    if not is_json_content_type(content_type):
        return body
    try:
        return orjson.loads(body)
    except json.JSONDecodeError as error:
        raise json_body_error(error) from None


def _check_depth(payload: Any) -> None:
    try:
        check_depth(payload)
    except json.JSONDecodeError as error:
        raise json_body_error(error) from None


def _validated_one_by_one(customers: list[Any], customer_model: type[BaseModel]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    total = 0
    for index, customer in enumerate(customers):
        try:
            records.append(customer_model.model_validate(customer).model_dump())
        except ValidationError as error:
            total += error.error_count()
            if len(errors) < MAX_REPORTED_ERRORS:  # only the errors the answer shows are built
                errors.extend(_body_errors(error, ("customers", index))[: MAX_REPORTED_ERRORS - len(errors)])
    if total:
        raise BoundedValidationError(errors, total)
    return records


def _body_errors(error: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    return [{**issue, "loc": ("body", *prefix, *issue["loc"])} for issue in error.errors(include_url=False)]


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


async def _answer(service: Service, customer: type[BaseModel], message: str | bytes) -> dict[str, Any]:
    """Every failure is an error object for this message: the connection stays open and nothing is stored."""
    limit = service.settings.api.max_body_bytes
    if len(message) > limit:
        return {
            "error": "message too large",
            "detail": f"A message is at most {limit} bytes (CHURNOPS_MAX_BODY_BYTES): send one customer per message.",
        }
    try:
        payload = strict_loads(message)  # the same strict JSON as the HTTP endpoints
    except json.JSONDecodeError as error:
        return {"error": "invalid JSON", "detail": f"{error.msg[:200]}: send one customer as a JSON object per message."}
    try:
        record = customer.model_validate(payload).model_dump()
    except ValidationError as error:
        return {"error": "invalid customer", **public_errors(error.errors(include_url=False), with_input=False)}
    try:
        scored = await service.predict_one(record, "websocket")
    except ModelUnavailable as error:
        return {"error": "model unavailable", "detail": str(error)}
    except WalError as error:
        return {"error": "not stored durably", "detail": str(error)}
    return service.prediction_rows(scored, [record])[0]
