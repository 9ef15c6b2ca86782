"""Retraining after an alert: the pipeline on the base data plus the labelled production rows, through the gate (churnops.retraining)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from churnops.data.contract import DatasetContract
from churnops.data.sources import acquire_data
from churnops.retraining import retraining_settings, run_pipeline_process
from churnops.settings import Settings
from churnops.tracking import connect

log = logging.getLogger("churnops.retraining")


@dataclass(frozen=True)
class RetrainOutcome:
    version: str
    promoted: bool
    reasons: list[str]
    champion_version: str | None
    data: str
    labelled_rows_added: int
    training_run_id: str


def training_data_with_feedback(settings: Settings, contract: DatasetContract, predictions: pd.DataFrame) -> tuple[Path, int]:
    """The base training file with the window's labelled predictions appended, in the same raw CSV layout."""
    base_path, _ = acquire_data(settings)
    base = pd.read_csv(base_path, dtype=str, keep_default_na=False)
    labelled = predictions[predictions["churned"].notna()]
    added = pd.DataFrame({name: labelled[name].to_numpy() for name in contract.feature_columns})
    if contract.id_column:
        added.insert(0, contract.id_column, ("prediction-" + labelled["id"].astype(str)).to_numpy())
    target = contract.target
    added[target.column] = [target.positive if churned else target.negative for churned in labelled["churned"].astype(bool)]
    combined = pd.concat([base, added.astype(object).where(added.notna(), "")[base.columns]], ignore_index=True)
    folder = settings.retraining.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"training-{datetime.now(UTC):%Y%m%dT%H%M%S}.csv"
    combined.to_csv(path, index=False)
    return path, len(added)


def retrain(settings: Settings, contract: DatasetContract, predictions: pd.DataFrame) -> RetrainOutcome:
    """Run the training pipeline on the configured data (plus feedback); the gate alone decides whether the new version becomes champion.

    Raises ConfigError when no data is configured and the champion was trained on real data, and
    RetrainingFailed when the pipeline ends without a result.
    """
    added = 0
    settings = retraining_settings(settings, connect(settings))
    run_settings = settings
    if settings.retraining.with_feedback and predictions["churned"].notna().any():
        path, added = training_data_with_feedback(settings, contract, predictions)
        base = settings.data or acquire_data(settings)[1]
        run_settings = settings.model_copy(update={"data": str(path.resolve()), "data_sha256": None, "data_derived_from": f"{base} + feedback"})
    log.info("Retraining on %s (%d labelled production rows added)", run_settings.data or "synthetic data", added)
    result = run_pipeline_process(run_settings)  # the one way to retrain (churnops.retraining), as the API's jobs do
    return RetrainOutcome(
        result.version, result.promoted, result.reasons, result.champion_version, run_settings.data or "synthetic", added, result.training_run_id
    )
