"""Admin: reload the model, promote a version or roll back, retrain in the background, follow jobs. Needs the X-API-Key header."""

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from churnops.errors import RegistryError, TrackingServerError
from churnops.serving import champion
from churnops.serving.deps import AdminDep, ServiceDep
from churnops.serving.guards import StrictJSONRoute
from churnops.serving.schemas import ErrorBody, Job, PromoteRequest, ReloadResult, RetrainRequest, RollbackResult

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong API key."},
    403: {"model": ErrorBody, "description": "Admin is disabled (no key configured)."},
}
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep], responses=AUTH_ERRORS, route_class=StrictJSONRoute)


@router.post("/reload", response_model=ReloadResult, responses={503: {"model": ErrorBody, "description": "No model could be loaded."}})
async def reload(service: ServiceDep) -> dict[str, Any]:
    """Re-read the alias now and load its version if it changed (the service also does this on its own every poll interval)."""
    changed = await run_in_threadpool(service.watcher.check)
    return {"changed": changed, "model": service.model().info()}


@router.post(
    "/promote",
    response_model=ReloadResult,
    responses={
        400: {"model": ErrorBody, "description": "The body is not decodable JSON."},
        404: {"model": ErrorBody, "description": "The model has no such version."},
        503: {"model": ErrorBody, "description": "The tracking server is unreachable, or no model could be loaded."},
    },
)
async def promote(body: PromoteRequest, service: ServiceDep) -> dict[str, Any]:
    """Make a version champion now, bypassing the gate (as `churnops promote`); recorded on the version and in a run, then served.

    `changed`: whether the served version changed (not when the service follows another alias than champion)."""
    before = service.watcher.current
    try:
        await run_in_threadpool(champion.promote, service.settings, body.version_text, body.reason)
    except RegistryError as error:
        raise HTTPException(404, str(error)) from None
    except TrackingServerError as error:
        raise HTTPException(503, str(error)) from None
    await run_in_threadpool(service.watcher.check)  # the poller may have loaded it already: compare versions, not check()'s answer
    model = service.model()
    return {"changed": before is None or before.version != model.version, "model": model.info()}


@router.post(
    "/rollback",
    response_model=RollbackResult,
    responses={
        409: {"model": ErrorBody, "description": "There is no previous champion to roll back to."},
        503: {"model": ErrorBody, "description": "The tracking server is unreachable, or no model could be loaded."},
    },
)
async def rollback(service: ServiceDep) -> dict[str, Any]:
    """Move champion back to the previous champion (as `churnops rollback`); recorded in a run, then served."""
    try:
        from_version, to_version = await run_in_threadpool(champion.rollback, service.settings)
    except RegistryError as error:
        raise HTTPException(409, str(error)) from None
    except TrackingServerError as error:
        raise HTTPException(503, str(error)) from None
    await run_in_threadpool(service.watcher.check)
    return {"from_version": from_version, "to_version": to_version, "model": service.model().info()}


@router.post(
    "/retrain",
    response_model=Job,
    status_code=202,
    responses={
        400: {"model": ErrorBody, "description": "The body is not decodable JSON."},
        409: {"model": ErrorBody, "description": "A job is already running, or no data is configured that could replace the champion."},
        422: {"model": ErrorBody, "description": "The data source is not allowed (CHURNOPS_DATA and CHURNOPS_RETRAIN_ALLOWED_DATA are)."},
    },
)
def retrain(service: ServiceDep, body: RetrainRequest | None = None) -> dict[str, Any]:
    """Run the training pipeline in the background on the configured data (or an allowed source).

    The new version reaches champion only through the gate."""
    request = body or RetrainRequest()
    return service.jobs.submit(data=request.data, trials=request.trials)


@router.get("/jobs/{job_id}", response_model=Job, responses={404: {"model": ErrorBody, "description": "Unknown job id."}})
def job(job_id: str, service: ServiceDep) -> dict[str, Any]:
    """Status of a retraining job and, when done, the version it registered and the gate's decision."""
    found = service.jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"No job with id {job_id} (jobs are kept in memory until the service restarts).")
    return found
