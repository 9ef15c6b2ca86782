"""A real registry with two trained versions, shared by the API tests, and ways to serve it."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from churnops.data.contract import DatasetContract
from churnops.data.loading import load_dataset, to_model_frame
from churnops.settings import Settings
from churnops.training.pipeline import run_pipeline
from tests.conftest import fast_settings


@dataclass(frozen=True)
class TrainedRegistry:
    folder: Path
    champion: str  # version @champion after both runs
    versions: list[str]


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> TrainedRegistry:
    """Two pipeline runs on synthetic data (small, quick): versions 1 and 2 of the model."""
    folder = tmp_path_factory.mktemp("registry")
    versions = []
    for seed in (1, 2):
        settings = fast_settings(folder, families=["logistic_regression"], search_trials=2, seed=seed, gate_tolerance=1.0)
        versions.append(run_pipeline(settings).version)
    return TrainedRegistry(folder, champion=versions[-1], versions=versions)


def registry_copy(trained: TrainedRegistry, tmp_path: Path) -> str:
    """A private copy of the tracking database (artifacts stay shared, read-only), so tests can move aliases freely."""
    shutil.copy(trained.folder / "mlflow.db", tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def api_settings(trained: TrainedRegistry | None, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "tracking_uri": registry_copy(trained, tmp_path) if trained else f"sqlite:///{tmp_path / 'empty-mlflow.db'}",
        "artifact_location": str((trained.folder if trained else tmp_path) / "mlartifacts"),
        "store_url": f"sqlite:///{tmp_path / 'predictions.db'}",
        "spool_dir": tmp_path / "spool",
        "alias_poll_seconds": 0.5,
        "store_retry_seconds": 0.5,
    }
    values.update(overrides)
    return fast_settings(tmp_path, **values)


def valid_customers(csv: Path, contract: DatasetContract, count: int) -> list[dict[str, Any]]:
    """Customers as a client sends them: validated contract values, JSON types."""
    features = load_dataset(csv, contract).features
    frame = to_model_frame(features, contract).dropna().head(count)
    return list(json.loads(frame.to_json(orient="records")))


def wait_until(condition: Callable[[], object], timeout: float, message: str) -> None:
    """Poll `condition` until it holds; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)
