"""Settings for tests: small and quick for pipelines, a private registry copy and store for the API, and for monitoring."""

from __future__ import annotations

from pathlib import Path

from churnops.settings import Settings
from tests.support.paths import CONTRACT_PATH
from tests.support.registries import TelcoRegistry, TrainedRegistry, registry_copy


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
