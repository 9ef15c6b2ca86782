"""Shared fixtures: the real Telco CSV (when present), the shipped contract, trained registries.

Helpers (paths, settings, servers, fakes, ...) live in tests/support/; only fixtures are here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import Dataset, load_dataset
from churnops.data.split import Split, split_dataset
from churnops.data.synthetic import write as write_synthetic
from tests.support.paths import CONTRACT_PATH, TELCO_CSV
from tests.support.prerequisites import require
from tests.support.registries import TelcoRegistry, TrainedRegistry
from tests.support.settings import fast_settings
from tests.support.workers import once_per_run


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


# Session fixtures that train: built once per run, also across xdist workers (tests/support/workers.py).
# Tests that use them are marked `trains` (deselect with -m "not trains" for a quick run).
TRAINING_FIXTURES = frozenset({"trained_registry", "telco_registry"})


# The longest files (`make test` --durations; setup included), longest first. `--dist loadfile` with
# --no-loadscope-reorder (pyproject.toml) hands files out in collection order, so a long file collected last
# keeps one worker busy while the other idles; run first, they overlap with the many short files instead.
# The two image-building files are not next to each other: xdist deals the first files out in turn, so they
# land on the same worker, which builds the images while the other one trains.
# Only the order changes: a file missing here runs where it always did.
LONGEST_FILES = (
    "tests/deploy/test_compose.py",
    "tests/end_to_end/test_closed_loop.py",
    "tests/deploy/test_api_image.py",
    "tests/store/test_store_under_load.py",
    "tests/comments/test_llm_analysis.py",
    "tests/orchestrators/test_airflow.py",
    "tests/deploy/test_azureml.py",
    "tests/spark/test_spark_scoring.py",
)


def _longest_first(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.trains)
    items.sort(key=_longest_first)  # stable: within a file, and among the other files, the order stays as collected


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> TrainedRegistry:
    """Two pipeline runs on synthetic data (small, quick): versions 1 and 2 of the model.

    Shared by the API (tests/serving) and store (tests/store) tests; copy its mlflow.db before moving
    aliases (tests/support/registries.py::registry_copy, which tests/support/settings.py::api_settings does).
    """

    def build(folder: Path) -> TrainedRegistry:
        from churnops.training.pipeline import run_pipeline  # noqa: PLC0415 - the training stack only for tests that need it

        versions = []
        for seed in (1, 2):
            settings = fast_settings(folder, families=["logistic_regression"], search_trials=2, seed=seed, gate_tolerance=1.0)
            versions.append(run_pipeline(settings).version)
        return TrainedRegistry(folder, champion=versions[-1], versions=versions)

    return once_per_run(tmp_path_factory, worker_id, "registry", build)


@pytest.fixture(scope="session")
def telco_registry(tmp_path_factory: pytest.TempPathFactory, worker_id: str, telco_csv: Path) -> TelcoRegistry:
    """One quick pipeline run on the real Telco CSV: version 1 is champion, with its reference and evaluation set logged.

    Shared by the monitoring, model and gate tests (copy its mlflow.db before moving aliases: tests/support/registries.py::registry_copy).
    """

    def build(folder: Path) -> TelcoRegistry:
        from churnops.training.pipeline import run_pipeline  # noqa: PLC0415 - the training stack only for tests that need it

        settings = fast_settings(folder, data=str(telco_csv), families=["logistic_regression"], search_trials=2, system_metrics_seconds=0.2)
        result = run_pipeline(settings)
        return TelcoRegistry(TrainedRegistry(folder, champion=result.version, versions=[result.version]), result)

    return once_per_run(tmp_path_factory, worker_id, "telco-registry", build)
