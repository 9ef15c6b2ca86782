"""A registry version ready to score: ONNX fast path, MLflow pyfunc fallback, checked against its contract.

The API, batch scoring, monitoring and the front end load versions through `load_served_model`.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml

from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import to_model_frame
from churnops.errors import ChurnopsError
from churnops.model.churn_model import artifact_file, churn_probabilities, download_version, read_example
from churnops.model.onnx import OnnxChurnModel
from churnops.registry import version_by_alias
from churnops.settings import Settings

log = logging.getLogger("churnops.model")


class ModelUnavailable(ChurnopsError):
    """No model can be served right now; the message says why and what to do."""


class Scorer(Protocol):
    def churn_probabilities(self, records: list[dict[str, Any]]) -> np.ndarray: ...

    def churn_probabilities_frame(self, frame: pd.DataFrame) -> np.ndarray: ...


class OnnxScorer:
    def __init__(self, path: Path, contract: DatasetContract) -> None:
        self.model = OnnxChurnModel(path, contract)

    def churn_probabilities(self, records: list[dict[str, Any]]) -> np.ndarray:
        return self.model.predict_records(records)

    def churn_probabilities_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame)


class PyfuncScorer:
    """Fallback for versions without an ONNX artifact: the MLflow model itself (slower, via pandas)."""

    def __init__(self, model_dir: Path, contract: DatasetContract) -> None:
        self.model = mlflow.pyfunc.load_model(str(model_dir))
        self.contract = contract

    def churn_probabilities(self, records: list[dict[str, Any]]) -> np.ndarray:
        return self.churn_probabilities_frame(pd.DataFrame.from_records(records))

    def churn_probabilities_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return churn_probabilities(self.model.predict(to_model_frame(frame, self.contract)))


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: str
    alias: str
    run_id: str | None
    model_uri: str
    family: str | None
    metrics: dict[str, float]
    threshold: float
    trained_at: datetime | None
    registered_at: datetime | None
    data_fingerprint: str | None
    inference: str
    scorer: Scorer = field(repr=False)
    contract: DatasetContract = field(repr=False)  # what the version was trained with
    contract_yaml: str = field(repr=False)  # its text, to retrain with the same contract
    example: dict[str, Any] | None = field(default=None, repr=False)  # a typical training customer, for docs
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def score(self, records: list[dict[str, Any]]) -> np.ndarray:
        return self.scorer.churn_probabilities(records)

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Score a model frame (`data.loading.to_model_frame`) without building a record per row (batch scoring)."""
        return self.scorer.churn_probabilities_frame(frame)

    def info(self) -> dict[str, Any]:
        """The registry facts, for /model."""
        hidden = {"scorer", "contract", "contract_yaml", "example"}
        return {item.name: getattr(self, item.name) for item in fields(self) if item.name not in hidden}


def served_version(client: Any, settings: Settings) -> str:
    """The version the serving alias points at."""
    found = version_by_alias(client, settings.model_name, settings.serve_alias)
    if found is None:
        raise ModelUnavailable(
            f"Model '{settings.model_name}' has no '{settings.serve_alias}' version in the registry at {settings.tracking_uri}. "
            "Run `churnops pipeline` (or promote a version) and the service picks it up."
        )
    return str(found.version)


def load_served_model(client: Any, settings: Settings, contract: DatasetContract | None, version: str) -> ServedModel:
    """Load `version` with its metadata from the registry: ONNX when the version ships it, else the pyfunc model.

    `contract`: the one requests are validated with when fixed by --dataset (the version must match it);
    None: the version's own contract.
    """
    name, alias = settings.model_name, settings.serve_alias
    details = client.get_model_version(name, version)
    tags = dict(details.tags or {})
    model_uri = f"models:/{name}/{version}"
    with tempfile.TemporaryDirectory(prefix="churnops-model-") as folder:
        model_dir = download_version(name, version, folder)
        shipped = artifact_file(model_dir, "contract")
        contract_yaml = shipped.read_text(encoding="utf-8") if shipped.is_file() else ""
        own = load_contract(shipped) if shipped.is_file() else None
        if contract is None and own is None:
            raise ModelUnavailable(f"Model '{name}' version {version} ships no contract.yaml: start the service with --dataset (CHURNOPS_DATASET).")
        if contract is not None and own is not None:
            _check_contract(own, contract, name, version)
        used: DatasetContract = contract or own  # type: ignore[assignment]  # one of them is set (checked above)
        onnx_file = artifact_file(model_dir, "onnx")
        scorer: Scorer
        if onnx_file.is_file():
            scorer, inference = OnnxScorer(onnx_file, used), "onnx"
        else:
            log.warning("version %s has no %s; serving the MLflow pyfunc model (slower)", version, onnx_file.name)
            scorer, inference = PyfuncScorer(model_dir, used), "pyfunc"
        threshold = _threshold(tags, model_dir)
        example = read_example(model_dir)
    run_id = details.run_id or None
    return ServedModel(
        name=name,
        version=str(version),
        alias=alias,
        run_id=run_id,
        model_uri=model_uri,
        family=tags.get("family"),
        metrics={key.removeprefix("test_"): float(value) for key, value in tags.items() if key.startswith("test_") and _is_number(value)},
        threshold=threshold,
        trained_at=_run_start(client, run_id),
        registered_at=_from_millis(details.creation_timestamp),
        data_fingerprint=tags.get("data_fingerprint"),
        inference=inference,
        scorer=scorer,
        contract=used,
        contract_yaml=contract_yaml,
        example=example,
    )


def same_columns(first: DatasetContract, second: DatasetContract) -> bool:
    return {column: spec.type for column, spec in first.columns.items()} == {column: spec.type for column, spec in second.columns.items()}


def _check_contract(trained_on: DatasetContract, contract: DatasetContract, name: str, version: str) -> None:
    """Requests are validated against the contract the service was started with; refuse a model trained on other columns."""
    if not same_columns(trained_on, contract):
        raise ModelUnavailable(
            f"Model '{name}' version {version} was trained with contract '{trained_on.name}' whose columns differ from the "
            f"service's contract '{contract.name}' (--dataset). Start the service without --dataset to serve each version with its own contract."
        )


def _threshold(tags: dict[str, str], model_dir: Path) -> float:
    if _is_number(tags.get("threshold")):
        return float(tags["threshold"])
    metadata = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8")).get("metadata") or {}
    return float(metadata.get("threshold", 0.5))


def _run_start(client: Any, run_id: str | None) -> datetime | None:
    if not run_id:
        return None
    try:
        return _from_millis(client.get_run(run_id).info.start_time)
    except Exception:  # noqa: BLE001 - a deleted run only loses this field
        return None


def _from_millis(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, tz=UTC) if value else None


def _is_number(value: str | None) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
