"""The served model: load a registry version (ONNX fast path, MLflow pyfunc fallback) and follow its alias.

A `ChampionWatcher` thread re-reads the alias every `alias_poll_seconds`; when it moved, the new
version is loaded beside the old one and swapped in with one reference assignment, so requests
already holding the old model finish on it and none fails.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml

from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import to_model_frame
from churnops.errors import ChurnopsError
from churnops.registry import version_by_alias
from churnops.settings import Settings
from churnops.tracking import connect
from churnops.training.fast_path import FILE_NAME as ONNX_FILE
from churnops.training.fast_path import OnnxChurnModel

log = logging.getLogger("churnops.model")
CLASS_PROBABILITY_NDIM = 2  # pyfunc predict_proba output: one column per class


class ModelUnavailable(ChurnopsError):
    """No model can be served right now; the message says why and what to do."""


class Scorer(Protocol):
    def churn_probabilities(self, records: list[dict[str, Any]]) -> np.ndarray: ...


class OnnxScorer:
    def __init__(self, path: Path, contract: DatasetContract) -> None:
        self.model = OnnxChurnModel(path, contract)

    def churn_probabilities(self, records: list[dict[str, Any]]) -> np.ndarray:
        return self.model.predict_records(records)


class PyfuncScorer:
    """Fallback for versions without an ONNX artifact: the MLflow model itself (slower, via pandas)."""

    def __init__(self, model_dir: Path, contract: DatasetContract) -> None:
        self.model = mlflow.pyfunc.load_model(str(model_dir))
        self.contract = contract

    def churn_probabilities(self, records: list[dict[str, Any]]) -> np.ndarray:
        frame = to_model_frame(pd.DataFrame.from_records(records), self.contract)
        output = np.asarray(self.model.predict(frame))
        return np.asarray(output[:, 1] if output.ndim == CLASS_PROBABILITY_NDIM else output, dtype=np.float64)


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
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def score(self, records: list[dict[str, Any]]) -> np.ndarray:
        return self.scorer.churn_probabilities(records)

    def info(self) -> dict[str, Any]:
        """Everything but the scorer, for /model."""
        return {item.name: getattr(self, item.name) for item in fields(self) if item.name != "scorer"}


def served_version(client: Any, settings: Settings) -> str:
    """The version the serving alias points at."""
    found = version_by_alias(client, settings.model_name, settings.serve_alias)
    if found is None:
        raise ModelUnavailable(
            f"Model '{settings.model_name}' has no '{settings.serve_alias}' version in the registry at {settings.tracking_uri}. "
            "Run `churnops pipeline` (or promote a version) and the service picks it up."
        )
    return str(found.version)


def load_served_model(client: Any, settings: Settings, contract: DatasetContract, version: str) -> ServedModel:
    """Load `version` with its metadata from the registry: ONNX when the version ships it, else the pyfunc model."""
    name, alias = settings.model_name, settings.serve_alias
    details = client.get_model_version(name, version)
    tags = dict(details.tags or {})
    model_uri = f"models:/{name}/{version}"
    with tempfile.TemporaryDirectory(prefix="churnops-model-") as folder:
        model_dir = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder))
        _check_contract(model_dir, contract, name, version)
        onnx_file = model_dir / "extra_files" / ONNX_FILE
        scorer: Scorer
        if onnx_file.is_file():
            scorer, inference = OnnxScorer(onnx_file, contract), "onnx"
        else:
            log.warning("version %s has no %s; serving the MLflow pyfunc model (slower)", version, ONNX_FILE)
            scorer, inference = PyfuncScorer(model_dir, contract), "pyfunc"
        threshold = _threshold(tags, model_dir)
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
    )


def _check_contract(model_dir: Path, contract: DatasetContract, name: str, version: str) -> None:
    """Requests are validated against the service's contract; refuse a model trained on other columns."""
    shipped = model_dir / "extra_files" / "contract.yaml"
    if not shipped.is_file():
        return
    trained_on = load_contract(shipped)
    expected = {column: spec.type for column, spec in contract.columns.items()}
    actual = {column: spec.type for column, spec in trained_on.columns.items()}
    if expected != actual:
        raise ModelUnavailable(
            f"Model '{name}' version {version} was trained with contract '{trained_on.name}' whose columns differ from the "
            f"service's contract '{contract.name}'. Start the service with CHURNOPS_DATASET pointing at that model's contract."
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


class ChampionWatcher:
    """Holds the served model and swaps it when the alias moves."""

    def __init__(self, settings: Settings, contract: DatasetContract) -> None:
        self.settings = settings
        self.contract = contract
        self.current: ServedModel | None = None
        self.reason = "the model is not loaded yet"
        self._lock = threading.Lock()  # one load at a time (poller vs /admin/reload)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.check()
        self._thread = threading.Thread(target=self._poll, name="champion-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def check(self) -> bool:
        """Load the alias's version if it differs from the served one. True when the model changed."""
        with self._lock:
            try:
                client = connect(self.settings)
                version = served_version(client, self.settings)
                if self.current is not None and self.current.version == version:
                    return False
                loaded = load_served_model(client, self.settings, self.contract, version)
            except ChurnopsError as error:
                return self._unavailable(str(error))
            except Exception as error:  # noqa: BLE001 - registry/network errors keep the old model serving
                return self._unavailable(f"loading '{self.settings.model_name}@{self.settings.serve_alias}' failed: {error}")
            previous = self.current
            self.current = loaded  # the swap: requests that already hold `previous` finish on it
            self.reason = ""
            log.info(
                "serving model",
                extra={
                    "model_name": loaded.name,
                    "model_version": loaded.version,
                    "previous_version": previous.version if previous else None,
                    "inference": loaded.inference,
                },
            )
            return True

    def _unavailable(self, reason: str) -> bool:
        if self.current is None:
            if reason != self.reason:
                log.warning("no model to serve: %s", reason)
            self.reason = reason
        else:
            log.warning("keeping version %s: %s", self.current.version, reason)
        return False

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.alias_poll_seconds):
            self.check()
