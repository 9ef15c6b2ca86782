"""Settings for the orchestrators' runs: quick training on the real Telco CSV into a private registry, store and folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.settings import Settings
from tests.support.settings import fast_settings


@pytest.fixture()
def orchestrated(tmp_path: Path, telco_csv: Path) -> Settings:
    """Logistic regression, 2 trials; every path absolute (Airflow runs each task in a temporary folder)."""
    return fast_settings(
        tmp_path,
        data=str(telco_csv),
        families=["logistic_regression"],
        search_trials=2,
        system_metrics_seconds=0.5,
        store_url=f"sqlite:///{tmp_path / 'predictions.db'}",
        spool_dir=tmp_path / "spool",
        batch_output_dir=tmp_path / "batch",
    )
