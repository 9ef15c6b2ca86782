"""Monitoring settings over a private copy of the Telco registry (tests/conftest.py::telco_registry)."""

from __future__ import annotations

from pathlib import Path

from churnops.settings import Settings
from tests.conftest import TelcoRegistry
from tests.serving.conftest import api_settings


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
