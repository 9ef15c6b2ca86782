"""A champion trained on the real Telco data (its reference is what monitoring compares with)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from churnops.pipeline import PipelineResult, run_pipeline
from churnops.settings import Settings
from tests.conftest import fast_settings
from tests.serving.conftest import TrainedRegistry, api_settings


@dataclass(frozen=True)
class TelcoRegistry:
    registry: TrainedRegistry
    result: PipelineResult


@pytest.fixture(scope="session")
def telco_registry(tmp_path_factory: pytest.TempPathFactory, telco_csv: Path) -> TelcoRegistry:
    """One quick pipeline run on the Telco CSV: version 1 is champion, with its reference data logged."""
    folder = tmp_path_factory.mktemp("telco-registry")
    settings = fast_settings(folder, data=str(telco_csv), families=["logistic_regression"], search_trials=2, system_metrics_seconds=0.2)
    result = run_pipeline(settings)
    return TelcoRegistry(TrainedRegistry(folder, champion=result.version, versions=[result.version]), result)


def monitor_settings(telco: TelcoRegistry, tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a private copy of the registry, a fresh store and report folder under tmp_path."""
    values: dict[str, object] = {
        "monitor_report_dir": tmp_path / "reports",
        "retrain_data_dir": tmp_path / "retrain",
        "monitor_min_rows": 100,
        "monitor_min_labelled": 50,
    }
    values.update(overrides)
    return api_settings(telco.registry, tmp_path, **values)
