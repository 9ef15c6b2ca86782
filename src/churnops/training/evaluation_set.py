"""The trusted evaluation set: the rows the gate scores a challenger and the champion on.

A challenger must not choose the data it is judged on. The first version's held-out test split
becomes the registry's evaluation set; every later version is scored on the champion's
registered set (or on a pinned file, CHURNOPS_GATE_EVALUATION_DATA), its rows are removed from
the challenger's training data, and the new version registers the same set, so the set carries
over from champion to champion. Exception: a champion trained on the built-in synthetic data
does not judge a challenger trained on real data (the challenger's own test split does, and
becomes the set from then on).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException

from churnops.data import sources
from churnops.data.contract import DatasetContract
from churnops.data.loading import load_dataset
from churnops.data.split import Part

ARTIFACT_PATH = "evaluation"
FILE_NAME = "evaluation_set.parquet"
TARGET = "__target__"
ID = "__id__"


@dataclass(frozen=True)
class EvaluationSet:
    part: Part
    fingerprint: str
    description: str  # for the gate's reasons: where these rows come from

    @property
    def rows(self) -> int:
        return len(self.part.target)


def fingerprint_of(part: Part) -> str:
    hashed = pd.util.hash_pandas_object(pd.concat([part.features, part.target], axis=1), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def from_part(part: Part, description: str) -> EvaluationSet:
    return EvaluationSet(part, fingerprint_of(part), description)


def row_keys(features: pd.DataFrame, target: pd.Series) -> pd.Series:
    """One hash per row of features and target: how evaluation rows are found in new training data."""
    return pd.util.hash_pandas_object(pd.concat([features, target.rename(TARGET)], axis=1), index=False)


def save(evaluation: EvaluationSet, log_artifact: Any) -> None:
    """Write the set as a Parquet artifact with `log_artifact(local_path, artifact_path)` (the active run's)."""
    part = evaluation.part
    frame = part.features.reset_index(drop=True).assign(**{TARGET: part.target.to_numpy()})
    if part.ids is not None:
        frame[ID] = part.ids.astype(str).to_numpy()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / FILE_NAME
        frame.to_parquet(path, index=False)
        log_artifact(str(path), ARTIFACT_PATH)


def load_registered(client: Any, evaluation_run_id: str, contract: DatasetContract, description: str) -> EvaluationSet | None:
    """The set a version was evaluated on (artifact of its evaluation run); None for versions registered before it existed."""
    try:
        with tempfile.TemporaryDirectory() as folder:
            frame = pd.read_parquet(client.download_artifacts(evaluation_run_id, f"{ARTIFACT_PATH}/{FILE_NAME}", folder))
    except (MlflowException, OSError):
        return None
    if not set(contract.feature_columns) <= set(frame.columns):
        return None  # another contract's columns: this set cannot judge the challenger
    ids = frame[ID].astype(object) if ID in frame.columns else None
    return from_part(Part(frame[contract.feature_columns], frame[TARGET].astype("int64").rename("target"), ids), description)


def load_pinned(source: str, contract: DatasetContract, cache_dir: Path) -> EvaluationSet:
    """CHURNOPS_GATE_EVALUATION_DATA: a labelled file in the contract's format."""
    dataset = load_dataset(sources.resolve(source, cache_dir), contract, source=source)
    return from_part(Part(dataset.features, dataset.target, dataset.ids), f"pinned evaluation file {source} ({dataset.n_rows} rows)")
