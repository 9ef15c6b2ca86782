"""Model information, the dataset contract, liveness, readiness and Prometheus metrics."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from churnops.serving.deps import ServiceDep
from churnops.serving.schemas import ContractInfo, ErrorBody, Health, ModelInfo, Readiness

router = APIRouter(tags=["operations"])


@router.get("/model", response_model=ModelInfo, responses={503: {"model": ErrorBody, "description": "No model is loaded; the body says why."}})
def model_info(service: ServiceDep) -> dict[str, Any]:
    """The served version: registry name, version and alias, run id, test metrics, threshold, data fingerprint and inference path."""
    return service.model().info()


@router.get("/contract", response_model=ContractInfo)
def contract(service: ServiceDep) -> dict[str, Any]:
    """The dataset contract requests are validated with and the typical training customer.

    The contract is the served version's (the built-in one while no version is loaded, or the one set with --dataset).

    `contract` reads back with `DatasetContract.model_validate`; `example` is a valid request body for /predict."""
    return {"contract": service.contract.model_dump(mode="json", exclude_none=True), "example": service.example}


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process is alive (says nothing about the model or the store; see /ready)."""
    return Health()


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness, "description": "Not ready; `reasons` says why."}})
def ready(service: ServiceDep) -> Any:
    """Ready when a model is loaded and the prediction store answers; otherwise 503 with the reasons."""
    state = service.readiness()
    return state if state["ready"] else JSONResponse(Readiness(**state).model_dump(), status_code=503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format."}},
)
def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics: requests, latency, predictions by label, probabilities, model version, store queue depth."""
    return Response(service.metrics_exposition(), media_type=CONTENT_TYPE_LATEST)
