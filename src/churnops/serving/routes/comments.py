"""POST /comments/analyze: one customer comment analysed by the LLM (the production prompt), stored, answered."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from churnops.comments.analysis import ChurnRisk, Reason, Sentiment
from churnops.comments.analyzer import Analyzer, LlmUnavailable
from churnops.errors import ChurnopsError
from churnops.serving.deps import ServiceDep
from churnops.serving.guards import StrictJSONRoute
from churnops.serving.schemas import ErrorBody
from churnops.settings import Settings
from churnops.store.comments import write_analyses
from churnops.store.engine import create_store_engine
from churnops.tracking import connect, ensure_experiment

log = logging.getLogger("churnops.comments")
router = APIRouter(tags=["comments"], route_class=StrictJSONRoute)
MAX_TEXT = 4000
_CREATING = threading.Lock()


class CommentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "Third outage this week and support kept me on hold for an hour. I'm looking at other providers.",
                    "customer_id": "7590-VHVEG",
                }
            ]
        },
    )

    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, description="The comment, as the customer wrote it.")]
    comment_id: Annotated[str | None, Field(max_length=200, description="Your id for the comment, stored with the analysis.")] = None
    customer_id: Annotated[str | None, Field(max_length=200, description="The customer who wrote it.")] = None
    date: dt.date | None = Field(None, description="When it was written (YYYY-MM-DD).")


class CommentAnalysisOut(BaseModel):
    analysis_id: str
    ok: bool = Field(description="False when the model gave no valid analysis after a retry: `error` says why.")
    sentiment: Sentiment | None
    churn_risk: ChurnRisk | None
    reasons: list[Reason] | None
    summary: str | None
    error: str | None
    model: str
    prompt_version: int | None = Field(description="The version of the registered prompt that was used.")
    attempts: int
    latency_ms: float
    trace_id: str | None = Field(description="The MLflow trace of this analysis.")
    stored: bool = Field(description="False when the store could not be written: the analysis is answered anyway.")


class CommentEndpoint:
    """The analyzer and the store engine, built on first use: the API starts without an LLM and serves predictions regardless."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._analyzer: Analyzer | None = None
        self._engine: Engine | None = None
        # Each analysis holds a worker thread for seconds; unbounded, a burst would take every thread the
        # other endpoints need (the LLM answers one at a time anyway). Beyond the limit: 429, try again.
        self.slots = threading.BoundedSemaphore(settings.comments.api_max_concurrent)

    def parts(self) -> tuple[Analyzer, Engine]:
        with self._lock:
            if self._analyzer is None or self._engine is None:
                connect(self.settings)
                ensure_experiment(self.settings, self.settings.comments.experiment)
                self._engine = create_store_engine(self.settings.store.url)  # migrated by the prediction store at start
                self._analyzer = Analyzer(self.settings)
            return self._analyzer, self._engine


def _comments(request: Request, settings: Settings) -> CommentEndpoint:
    state: Any = request.app.state
    with _CREATING:  # one endpoint (and one set of slots) per app, even for a burst of first requests
        if getattr(state, "comment_analysis", None) is None:
            state.comment_analysis = CommentEndpoint(settings)
    return state.comment_analysis  # type: ignore[no-any-return]


@router.post(
    "/comments/analyze",
    response_model=CommentAnalysisOut,
    responses={
        400: {"model": ErrorBody, "description": "The body is not decodable JSON."},
        429: {"model": ErrorBody, "description": "CHURNOPS_COMMENTS_API_MAX_CONCURRENT analyses are running: retry after Retry-After seconds."},
        503: {"model": ErrorBody, "description": "The LLM (the Ollama API) or the prompt registry cannot be reached."},
    },
)
def analyze_comment(body: CommentIn, request: Request, service: ServiceDep) -> CommentAnalysisOut:
    """Analyse one comment: sentiment, churn risk, reasons, a summary. Stored in the prediction store's database; traced in MLflow."""
    endpoint = _comments(request, service.settings)
    if not endpoint.slots.acquire(blocking=False):
        limit = service.settings.comments.api_max_concurrent
        raise HTTPException(
            429,
            f"{limit} comment analyses are already running (CHURNOPS_COMMENTS_API_MAX_CONCURRENT): retry in a few seconds, "
            "or analyse many comments with `churnops comments analyze --input comments.csv`.",
            headers={"Retry-After": "5"},
        )
    try:
        analyzer, engine = endpoint.parts()
        outcome = analyzer.analyze(
            body.text, comment_id=body.comment_id, customer_id=body.customer_id, comment_date=body.date.isoformat() if body.date else None
        )
    except (LlmUnavailable, ChurnopsError) as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "10"}) from None
    finally:
        endpoint.slots.release()
    stored = True
    try:
        write_analyses(engine, [outcome.as_row(source="api")])
    except SQLAlchemyError as exc:
        stored = False
        log.error("comment analysis %s not stored: %s", outcome.id, exc.__class__.__name__)
    return CommentAnalysisOut(
        analysis_id=outcome.id,
        ok=outcome.ok,
        error=outcome.error,
        model=outcome.model,
        prompt_version=outcome.prompt_version,
        attempts=outcome.attempts,
        latency_ms=round(outcome.latency_ms, 3),
        trace_id=outcome.trace_id,
        stored=stored,
        **outcome.answer(),
    )
