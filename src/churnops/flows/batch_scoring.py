"""The batch-scoring flow: a CSV of customers scored by the champion (same step as `churnops score`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from churnops.batch_scoring import BatchScoringResult, score_batch
from churnops.flows.runs import RETRIES, RETRY_DELAYS_SECONDS, RunLogProgress, link_mlflow_runs, publish_summary, retry_on_transient_errors
from churnops.settings import Settings, load_settings


# Transient failures (tracking server down) happen before anything is stored, so a retry cannot store a batch twice.
@task(
    name="score customers",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_errors,
)
def score(settings: Settings, input_file: str | None, output: str | None) -> BatchScoringResult:
    return score_batch(settings, input_file, Path(output) if output else None, RunLogProgress())


@flow(name="batch-scoring", log_prints=True)
def batch_scoring_flow(input_file: str | None = None, output: str | None = None) -> dict[str, Any]:
    """Score every customer in `input_file` (default CHURNOPS_BATCH_INPUT, else the training data) with the champion:
    predictions go to the prediction store and to a Parquet file."""
    settings = load_settings()
    result = score(settings, input_file, output)
    link_mlflow_runs(settings, {"batch-scoring": result.run_id})
    summary = result.to_dict()
    publish_summary("batch-scoring-summary", f"{result.rows} customers scored by version {result.model_version}", summary)
    return summary
