"""Ground truth for earlier predictions, for monitoring."""

from fastapi import APIRouter, HTTPException

from churnops.serving.deps import ServiceDep
from churnops.serving.guards import StrictJSONRoute
from churnops.serving.schemas import ErrorBody, FeedbackAccepted, FeedbackIn

router = APIRouter(tags=["feedback"], route_class=StrictJSONRoute)


@router.post(
    "/feedback",
    response_model=FeedbackAccepted,
    responses={
        400: {"model": ErrorBody, "description": "The body is not decodable JSON."},
        404: {"model": ErrorBody, "description": "Unknown prediction id."},
    },
)
def feedback(body: FeedbackIn, service: ServiceDep) -> FeedbackAccepted:
    """Record whether the customer of an earlier prediction actually churned."""
    if not service.record_feedback(body.prediction_id, body.churned):
        raise HTTPException(404, f"No prediction with id {body.prediction_id}: send the prediction_id returned by /predict.")
    return FeedbackAccepted(prediction_id=body.prediction_id, churned=body.churned)
