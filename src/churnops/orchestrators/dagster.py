"""Dagster: the pipeline as software-defined assets, calling the same step functions as the CLI and the Prefect flows.

    validated_data -> trained_model -> model_evaluation -> gate_decision -> batch_scores
    (pipeline.prepare   (pipeline.train)  (pipeline.evaluate_  (pipeline.register_   (batch_scoring.score_batch
     + hold_out)                           training)            and_gate)              with the champion)

Two jobs: `training` (the first four assets) and `batch_scoring` (the last), each on the cron of the Prefect
deployments (CHURNOPS_SCHEDULE_TRAINING_CRON, CHURNOPS_SCHEDULE_BATCH_SCORING_CRON, in CHURNOPS_SCHEDULE_TIMEZONE;
an empty cron: no schedule). The settings are the CHURNOPS_* variables and ./.env, as for the CLI.

    uv sync --extra dagster        (make env installs it)
    dagster dev -m churnops.orchestrators.dagster

No `from __future__ import annotations` here: Dagster reads the asset functions' annotations at definition time.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from churnops.batch_scoring import score_batch
from churnops.retraining import retraining_settings
from churnops.settings import ScheduleSettings, Settings, load_settings
from churnops.training import pipeline

GROUP = "churnops"


class ChurnopsSettings(dg.ConfigurableResource):
    """The churnops settings: CHURNOPS_* variables and `env_file` (default ./.env), read when a run starts."""

    env_file: str | None = None

    def load(self) -> Settings:
        return load_settings(Path(self.env_file) if self.env_file else None)

    def for_training(self) -> Settings:
        """As in the training flow: the configured data (checked) and the champion's own contract unless CHURNOPS_DATASET is set."""
        settings = self.load()
        return retraining_settings(settings, pipeline.start_tracking(settings))


class RunLogProgress:
    """The steps' progress callbacks, written to the run's log (shown in the Dagster UI)."""

    def __init__(self, context: dg.AssetExecutionContext) -> None:
        self.log = context.log

    def step(self, name: str) -> None:
        self.log.info(f"step: {name}")

    def trial(self, done: int, total: int, score: float, best: float) -> None:
        self.log.info(f"search trial {done}/{total}: CV ROC AUC {score:.4f} (best {best:.4f})")

    def rows(self, done: int, total: int, unit: str = "customers") -> None:
        self.log.info(f"done {done}/{total} {unit}")


@dg.asset(group_name=GROUP)
def validated_data(churnops: ChurnopsSettings) -> dg.Output[pipeline.Prepared]:
    """The data checked against its contract and split; the trusted evaluation set (pinned or the champion's) held out."""
    settings = churnops.for_training()
    prepared = pipeline.hold_out(settings, pipeline.prepare(settings))
    return dg.Output(
        prepared,
        metadata={
            "rows": prepared.dataset.n_rows,
            "data_source": prepared.data_source,
            "fingerprint": prepared.dataset.fingerprint,
            "split_sizes": prepared.split.sizes(),
            "evaluation_set": prepared.evaluation.description,
        },
    )


@dg.asset(group_name=GROUP)
def trained_model(context: dg.AssetExecutionContext, churnops: ChurnopsSettings, validated_data: pipeline.Prepared) -> dg.Output[pipeline.Trained]:
    """Search, refit, threshold: the model logged in an MLflow training run."""
    trained = pipeline.train(churnops.for_training(), validated_data, RunLogProgress(context))
    metadata: dict[str, Any] = {
        "mlflow_run_id": trained.run_id,
        "family": trained.family,
        "cv_roc_auc_mean": trained.cv_roc_auc_mean,
        "threshold": trained.threshold,
    }
    return dg.Output(trained, metadata=metadata)


@dg.asset(group_name=GROUP)
def model_evaluation(
    context: dg.AssetExecutionContext, churnops: ChurnopsSettings, validated_data: pipeline.Prepared, trained_model: pipeline.Trained
) -> dg.Output[pipeline.Evaluated]:
    """The model scored on the evaluation set and its ONNX fast path checked, in a linked MLflow run."""
    evaluated = pipeline.evaluate_training(churnops.for_training(), validated_data, trained_model, RunLogProgress(context))
    metadata: dict[str, Any] = {f"test_{name}": value for name, value in evaluated.metrics.items()}
    return dg.Output(evaluated, metadata={"mlflow_run_id": evaluated.run_id, "fast_path_max_abs_diff": evaluated.parity_difference, **metadata})


# No retries anywhere: registering a version is not idempotent (Dagster retries only when a policy says so).
@dg.asset(group_name=GROUP)
def gate_decision(
    context: dg.AssetExecutionContext,
    churnops: ChurnopsSettings,
    validated_data: pipeline.Prepared,
    trained_model: pipeline.Trained,
    model_evaluation: pipeline.Evaluated,
) -> dg.Output[pipeline.Gated]:
    """A new registered version (@challenger), promoted to @champion only if it passes the gate."""
    gated = pipeline.register_and_gate(churnops.for_training(), validated_data, trained_model, model_evaluation, RunLogProgress(context))
    metadata: dict[str, Any] = {
        "model_version": gated.version,
        "promoted": gated.decision.promote,
        "reasons": "; ".join(gated.decision.reasons),
        "gate_run_id": gated.gate_run_id,
    }
    return dg.Output(gated, metadata=metadata)


@dg.asset(group_name=GROUP, deps=[gate_decision])
def batch_scores(context: dg.AssetExecutionContext, churnops: ChurnopsSettings) -> dg.MaterializeResult:
    """Every customer of CHURNOPS_BATCH_INPUT (else the training data) scored by the champion: the prediction store and a Parquet file."""
    result = score_batch(churnops.load(), progress=RunLogProgress(context))
    return dg.MaterializeResult(metadata={**result.to_dict(), "output": dg.MetadataValue.path(result.output)})


ASSETS = [validated_data, trained_model, model_evaluation, gate_decision, batch_scores]
TRAINING_ASSETS = dg.AssetSelection.assets(validated_data, trained_model, model_evaluation, gate_decision)
training_job = dg.define_asset_job("training", selection=TRAINING_ASSETS, description="Validate, train, evaluate, register and gate.")
batch_scoring_job = dg.define_asset_job("batch_scoring", selection=dg.AssetSelection.assets(batch_scores), description="Score with the champion.")


def schedules(schedule: ScheduleSettings) -> list[dg.ScheduleDefinition]:
    """Daily training and nightly batch scoring on the crons `churnops schedule` uses; an empty cron: no schedule."""
    planned = [("daily_training", training_job, schedule.training_cron), ("nightly_batch_scoring", batch_scoring_job, schedule.batch_scoring_cron)]
    return [
        dg.ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone=schedule.timezone) for name, job, cron in planned if cron
    ]


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        jobs=[training_job, batch_scoring_job],
        schedules=schedules(settings.schedule),
        resources={"churnops": ChurnopsSettings()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster dev -m churnops.orchestrators.dagster` loads (the schedules read the settings then, not at import)."""
    return build_definitions(load_settings())
