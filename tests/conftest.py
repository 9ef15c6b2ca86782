"""Shared fixtures: the real Telco CSV (when present), the shipped contract, small settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import Dataset, load_dataset
from churnops.data.split import Split, split_dataset
from churnops.data.synthetic import write as write_synthetic
from churnops.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_PATH = ROOT / "src" / "churnops" / "data" / "contracts" / "telco.yaml"
TELCO_CSV = Path(os.environ.get("CHURNOPS_TELCO_CSV", ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip on a laptop; in CI (CI=true) a missing prerequisite is a failure, not a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def contract() -> DatasetContract:
    return load_contract(CONTRACT_PATH)


@pytest.fixture(scope="session")
def telco_csv() -> Path:
    require(TELCO_CSV.is_file(), f"real Telco CSV not found at {TELCO_CSV}")
    return TELCO_CSV


@pytest.fixture(scope="session")
def telco_frame(telco_csv: Path) -> pd.DataFrame:
    """The raw file as strings, for tests that write variants of it."""
    return pd.read_csv(telco_csv, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def telco(telco_csv: Path, contract: DatasetContract) -> Dataset:
    return load_dataset(telco_csv, contract)


@pytest.fixture(scope="session")
def telco_split(telco: Dataset) -> Split:
    return split_dataset(telco, test_size=0.2, validation_size=0.1, seed=42)


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "synthetic.csv", rows=1500, seed=7)


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a temp folder (mlflow.db, mlartifacts and the data cache land here)."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("CHURNOPS_"):
            monkeypatch.delenv(key)
    return tmp_path


def fast_settings(tmp_path: Path, **overrides: object) -> Settings:
    """A small, quick configuration for pipeline tests."""
    values: dict[str, object] = {
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "artifact_location": str(tmp_path / "mlartifacts"),
        "dataset": CONTRACT_PATH,
        "search_trials": 3,
        "cv_folds": 3,
        "synthetic_rows": 1500,
        "gate_min_roc_auc": 0.6,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TelcoRegistry:
    registry: Any  # tests.serving.conftest.TrainedRegistry: the folder with mlflow.db and mlartifacts
    result: Any  # churnops.training.pipeline.PipelineResult of the run


@pytest.fixture(scope="session")
def telco_registry(tmp_path_factory: pytest.TempPathFactory, telco_csv: Path) -> TelcoRegistry:
    """One quick pipeline run on the real Telco CSV: version 1 is champion, with its reference and evaluation set logged.

    Shared by the monitoring, model and gate tests (copy its mlflow.db before moving aliases: tests/serving/conftest.py::registry_copy).
    """
    from churnops.training.pipeline import run_pipeline  # noqa: PLC0415 - the training stack only for tests that need it
    from tests.serving.conftest import TrainedRegistry  # noqa: PLC0415 - that module imports this one

    folder = tmp_path_factory.mktemp("telco-registry")
    settings = fast_settings(folder, data=str(telco_csv), families=["logistic_regression"], search_trials=2, system_metrics_seconds=0.2)
    result = run_pipeline(settings)
    return TelcoRegistry(TrainedRegistry(folder, champion=result.version, versions=[result.version]), result)
