"""Trained registries the session fixtures build (tests/conftest.py: trained_registry, telco_registry), and private copies of them."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainedRegistry:
    folder: Path
    champion: str  # version @champion after both runs
    versions: list[str]


@dataclass(frozen=True)
class TelcoRegistry:
    registry: TrainedRegistry  # the folder with mlflow.db and mlartifacts
    result: Any  # churnops.training.pipeline.PipelineResult of the run


def registry_copy(trained: TrainedRegistry, tmp_path: Path) -> str:
    """A private copy of the tracking database (artifacts stay shared, read-only), so tests can move aliases freely."""
    shutil.copy(trained.folder / "mlflow.db", tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"
