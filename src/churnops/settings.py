"""One settings object for the whole system: CHURNOPS_* environment variables, a .env file, CLI overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Family = Literal["logistic_regression", "random_forest", "gradient_boosting"]


class Settings(BaseSettings):
    """Defaults run on a laptop: SQLite tracking store and a local artifact folder."""

    model_config = SettingsConfigDict(env_prefix="CHURNOPS_", env_file=".env", extra="forbid", validate_default=True)

    # Tracking and registry
    tracking_uri: str = Field("sqlite:///mlflow.db", description="MLflow tracking URI (sqlite:///..., http://host:5000, postgresql://...).")
    artifact_location: str = Field("mlartifacts", description="Artifact root for new experiments when tracking to a database directly.")
    experiment_name: str = "churn-training"
    model_name: str = "churn-classifier"

    # Data
    dataset: Path = Field(Path("configs/telco.yaml"), description="Dataset contract YAML.")
    data: str | None = Field(None, description="CSV path or http(s) URL; None means the built-in synthetic data.")
    data_sha256: str | None = Field(None, description="Expected SHA-256 of a downloaded file.")
    synthetic_rows: int = Field(5000, ge=200)
    seed: int = 42
    test_size: float = Field(0.2, gt=0.05, lt=0.5)
    validation_size: float = Field(0.1, gt=0.05, lt=0.5)

    # Search
    families: list[Family] = ["logistic_regression", "random_forest", "gradient_boosting"]
    search_trials: int = Field(24, ge=1, description="Optuna trials across all families.")
    search_timeout_seconds: float | None = Field(None, gt=0)
    cv_folds: int = Field(5, ge=2)
    n_jobs: int = Field(2, description="Parallel CV folds.")

    # Promotion gate
    gate_min_roc_auc: float = Field(0.80, ge=0, le=1, description="Absolute floor for test ROC AUC.")
    gate_min_pr_auc: float = Field(0.0, ge=0, le=1)
    gate_tolerance: float = Field(0.005, ge=0, description="How much worse than the champion (test ROC AUC) is still accepted.")
    parity_tolerance: float = Field(1e-5, gt=0, description="Max |p_fast - p_sklearn| for the fast inference artifact.")
    threshold_metric: Literal["f1", "youden"] = "f1"

    # Serving (churnops serve)
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = Field(None, description="Key for /admin endpoints (X-API-Key header); admin is disabled when unset.")
    serve_alias: str = Field("champion", description="Registry alias the API serves and follows.")
    alias_poll_seconds: float = Field(10.0, gt=0, description="How often the API checks whether the alias moved.")
    max_batch_size: int = Field(1000, ge=1, description="Most customers accepted by /predict/batch and /invocations.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Prediction store
    store_url: str = Field("sqlite:///predictions.db", description="SQLAlchemy URL of the prediction store (SQLite or postgresql://...).")
    spool_dir: Path = Field(Path(".churnops/spool"), description="Where records wait on disk while the store is unreachable.")
    store_batch_size: int = Field(500, ge=1, description="Most records written in one transaction.")
    store_flush_seconds: float = Field(0.2, gt=0, description="Longest a record waits in memory before it is written.")
    store_retry_seconds: float = Field(5.0, gt=0, description="How often spooled records are retried while the store is down.")

    @field_validator("data", "data_sha256", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        """`--data ""` (e.g. from MLproject defaults) means: use synthetic data."""
        return None if isinstance(value, str) and value.strip() in ("", "synthetic") else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def as_environment(self) -> dict[str, str]:
        """CHURNOPS_* variables that rebuild these settings in another process (uvicorn workers, retraining jobs)."""
        environment: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            environment[f"CHURNOPS_{name.upper()}"] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        return environment

    def tracking_is_local_database(self) -> bool:
        return self.tracking_uri.startswith(("sqlite:", "postgresql", "mysql", "mssql"))
