"""The training flow: the pipeline's steps as Prefect tasks (same functions as `churnops pipeline`)."""

from __future__ import annotations

import hashlib
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

import churnops.data
from churnops.data import sources
from churnops.data.contract import contract_path
from churnops.errors import ConfigError
from churnops.flows.runs import RETRIES, RETRY_DELAYS_SECONDS, RunLogProgress, link_mlflow_runs, publish_summary, retry_on_transient_errors
from churnops.retraining import retraining_settings
from churnops.settings import Settings, load_settings
from churnops.training import pipeline


def validated_data_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """Cache key of `validate`: the bytes of the data file and contract, the split settings and the data code.

    The same file validated and split the same way gives the same result, so a re-run skips it;
    any change to the data, the contract or the loading code makes a new key. A URL is not
    cached (its content is only known after the download).
    """
    settings: Settings = parameters["settings"]
    if settings.data is not None and sources.is_url(settings.data):
        return None
    digest = hashlib.sha256()
    data = Path(settings.data) if settings.data else None
    if data is not None and data.is_file():
        digest.update(data.read_bytes())
    for path in [contract_path(settings.dataset), *sorted(Path(churnops.data.__file__).parent.glob("*.py"))]:
        if path.is_file():
            digest.update(path.read_bytes())
    split = (settings.data, settings.seed, settings.test_size, settings.validation_size, settings.synthetic_rows)
    digest.update(repr(split).encode())
    return f"churnops-validate-{digest.hexdigest()}"


@task(
    name="validate",
    cache_key_fn=validated_data_key,
    cache_expiration=timedelta(days=1),
    persist_result=True,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_errors,
)
def validate(settings: Settings) -> pipeline.Prepared:
    """Load the data, check it against the contract, split it."""
    return pipeline.prepare(settings)


@task(
    name="choose evaluation set",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_errors,
)
def hold_out(settings: Settings, prepared: pipeline.Prepared) -> pipeline.Prepared:
    """The trusted evaluation set (pinned file or the champion's): it replaces the test split and never trains."""
    return pipeline.hold_out(settings, prepared)


@task(name="train", cache_policy=NO_CACHE, retries=RETRIES, retry_delay_seconds=RETRY_DELAYS_SECONDS, retry_condition_fn=retry_on_transient_errors)
def train(settings: Settings, prepared: pipeline.Prepared) -> pipeline.Trained:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
        return pipeline.train(settings, prepared, RunLogProgress())


@task(name="evaluate", cache_policy=NO_CACHE, retries=RETRIES, retry_delay_seconds=RETRY_DELAYS_SECONDS, retry_condition_fn=retry_on_transient_errors)
def evaluate(settings: Settings, prepared: pipeline.Prepared, trained: pipeline.Trained) -> pipeline.Evaluated:
    return pipeline.evaluate_training(settings, prepared, trained, RunLogProgress())


# No retries: registering a version is not idempotent, and a retry would register a second one.
@task(name="register and gate", cache_policy=NO_CACHE)
def register_and_gate(settings: Settings, prepared: pipeline.Prepared, trained: pipeline.Trained, evaluated: pipeline.Evaluated) -> pipeline.Gated:
    return pipeline.register_and_gate(settings, prepared, trained, evaluated, RunLogProgress())


@flow(name="training", log_prints=True)
def training_flow(data: str | None = None, trials: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """Validate, train, evaluate, register and gate; the new version becomes champion only through the gate."""
    started = time.perf_counter()
    configured = load_settings()
    if data and not configured.allows_training_source(data):
        raise ConfigError(
            f"Data source '{data[:200]}' is not allowed: the training flow trains on CHURNOPS_DATA or a CHURNOPS_RETRAIN_ALLOWED_DATA source."
        )
    settings = load_settings(data=data, search_trials=trials, seed=seed)
    settings = retraining_settings(settings, pipeline.start_tracking(settings))
    prepared = hold_out(settings, validate(settings))
    trained = train(settings, prepared)
    evaluated = evaluate(settings, prepared, trained)
    gated = register_and_gate(settings, prepared, trained, evaluated)
    result = pipeline.summarize(settings, prepared, trained, evaluated, gated, started).to_dict()
    runs = {"training": result["training_run_id"], "evaluation": result["evaluation_run_id"], "gate": result["gate_run_id"]}
    link_mlflow_runs(settings, runs, with_children=True)
    publish_summary("training-summary", f"{result['model_name']} version {result['version']}", result)
    return result
