"""The reference a monitoring window is compared with: the champion's training data and its scores.

Training logs it as an artifact of the training run (`reference/reference.parquet`), so a
monitoring run needs neither the original CSV nor a re-run of the split.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.pipeline import Pipeline

from churnops import registry
from churnops.errors import RegistryError
from churnops.settings import Settings

ARTIFACT_PATH = "reference"
FILE_NAME = "reference.parquet"
PROBABILITY = "churn_probability"  # the model's score column beside the raw features


def log_reference(pipeline: Pipeline, features: pd.DataFrame) -> None:
    """Log the training features with the fitted model's scores to the active run."""
    frame = features.reset_index(drop=True).assign(**{PROBABILITY: pipeline.predict_proba(features)[:, 1]})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / FILE_NAME
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), ARTIFACT_PATH)


@dataclass(frozen=True)
class Reference:
    """The served version and what it was trained on and scored at test time."""

    model_name: str
    version: str
    frame: pd.DataFrame  # feature columns plus PROBABILITY
    threshold: float
    test_metrics: dict[str, float]  # from the version's tags: roc_auc, precision, recall, f1, ...


def load_reference(settings: Settings, client: MlflowClient, alias: str | None = None) -> Reference:
    """The reference of the version behind `alias` (the served alias by default)."""
    alias = alias or settings.serve_alias
    version = registry.version_by_alias(client, settings.model_name, alias)
    if version is None:
        raise RegistryError(
            f"Model '{settings.model_name}' has no @{alias} version, so there is nothing to monitor against. Run `churnops pipeline` first."
        )
    run_id = str(version.tags.get("training_run_id") or version.run_id)
    try:
        with tempfile.TemporaryDirectory() as folder:
            local = client.download_artifacts(run_id, f"{ARTIFACT_PATH}/{FILE_NAME}", folder)
            frame = pd.read_parquet(local)
    except (MlflowException, OSError) as error:
        raise RegistryError(
            f"Version {version.version} of '{settings.model_name}' has no reference data in training run {run_id} ({error}). "
            "It was trained before monitoring existed: run `churnops pipeline` to register a version that has it."
        ) from None
    test_metrics = {key.removeprefix("test_"): float(value) for key, value in version.tags.items() if key.startswith("test_")}
    return Reference(settings.model_name, str(version.version), frame, float(version.tags.get("threshold", 0.5)), test_metrics)
