"""Prediction endpoints. Built per app because the request models come from the app's contract.

(No `from __future__ import annotations` here: FastAPI reads these signatures' types at runtime.)
"""

import json
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from churnops.serving.deps import ServiceDep
from churnops.serving.invocations import InvocationsInputError, openapi_request_body, parse_payload
from churnops.serving.predictor import ModelUnavailable
from churnops.serving.schemas import BatchPrediction, ErrorBody, InvocationsError, InvocationsResult, Prediction
from churnops.serving.service import Service

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not decodable JSON."},
    503: {"model": ErrorBody, "description": "No model is loaded; the body says why."},
}


def build_router(service: Service) -> APIRouter:
    router = APIRouter(tags=["predictions"])
    Customer = service.customer_model  # noqa: N806 - a class
    BatchRequest = service.batch_model  # noqa: N806

    # The prediction endpoints return ready JSON: the rows are built by our own code, and re-validating
    # them against response_model costs more than scoring (about 14 ms per 1000 rows). The declared
    # response_model still documents them, and the Schemathesis test checks responses against it.
    @router.post("/predict", response_model=Prediction, responses=UNAVAILABLE)
    async def predict(customer: Customer, service: ServiceDep) -> Response:  # type: ignore[valid-type]
        """Churn probability and label for one customer, at the served model's threshold."""
        record = customer.model_dump()  # type: ignore[attr-defined]
        scored = service.predict([record], "predict")
        return _json(service.prediction_rows(scored, [record])[0])

    @router.post("/predict/batch", response_model=BatchPrediction, responses=UNAVAILABLE)
    async def predict_batch(batch: BatchRequest, service: ServiceDep) -> Response:  # type: ignore[valid-type]
        """Predictions for up to `max_batch_size` customers, in the order sent."""
        records = [customer.model_dump() for customer in batch.customers]  # type: ignore[attr-defined]
        scored = service.predict(records, "batch")
        rows = service.prediction_rows(scored, records)
        return _json({"model_name": scored.model.name, "model_version": scored.model.version, "count": len(rows), "predictions": rows})

    @router.post(
        "/invocations",
        response_model=InvocationsResult,
        responses={**UNAVAILABLE, 400: {"model": InvocationsError, "description": "The payload cannot be read as customers."}},
        openapi_extra={"requestBody": openapi_request_body(service.example)},
    )
    async def invocations(request: Request, service: ServiceDep) -> Any:
        """MLflow scoring-server formats (`dataframe_split`, `dataframe_records`, `inputs`, CSV); answers as `mlflow models serve` does."""
        body = await request.body()
        try:
            records = parse_payload(body, request.headers.get("content-type", "application/json"), Customer, service.settings.max_batch_size)
        except InvocationsInputError as error:
            return JSONResponse({"error_code": "BAD_REQUEST", "message": str(error)}, status_code=400)
        scored = service.predict(records, "invocations")
        rows = zip(scored.probabilities, scored.churn, strict=True)
        return _json({"predictions": [{"churn_probability": probability, "churn": churn} for probability, churn in rows]})

    @router.websocket("/ws/predict")
    async def predict_stream(websocket: WebSocket) -> None:
        """One customer (JSON object) per message in, one prediction (or an error object) per message out."""
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive_text()
                await websocket.send_json(_answer(service, Customer, message))
        except WebSocketDisconnect:
            return

    return router


def _json(content: Any) -> Response:
    return Response(json.dumps(content, separators=(",", ":")), media_type="application/json")


def _answer(service: Service, customer: type[BaseModel], message: str) -> dict[str, Any]:
    try:
        record = customer.model_validate_json(message).model_dump()
    except ValidationError as error:
        return {"error": "invalid customer", "detail": error.errors(include_url=False, include_context=False, include_input=False)}
    try:
        scored = service.predict([record], "websocket")
    except ModelUnavailable as error:
        return {"error": "model unavailable", "detail": str(error)}
    return service.prediction_rows(scored, [record])[0]
