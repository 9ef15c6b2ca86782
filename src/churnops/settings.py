"""One settings object for the whole system: CHURNOPS_* environment variables, a .env file, CLI overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from churnops.errors import ConfigError

Family = Literal["logistic_regression", "random_forest", "gradient_boosting"]
# Evidently drift methods whose direction monitoring knows (see monitoring/drift.py).
NumericMethod = Literal["wasserstein", "ks", "psi", "jensenshannon", "hellinger", "kl_div"]
CategoricalMethod = Literal["jensenshannon", "chisquare", "psi", "hellinger", "kl_div"]


class Settings(BaseSettings):
    """Defaults run on a laptop: SQLite tracking store and a local artifact folder."""

    model_config = SettingsConfigDict(env_prefix="CHURNOPS_", env_file=".env", extra="forbid", validate_default=True)

    # Tracking and registry
    tracking_uri: str = Field("sqlite:///mlflow.db", description="MLflow tracking URI (sqlite:///..., http://host:5000, postgresql://...).")
    artifact_location: str = Field("mlartifacts", description="Artifact root for new experiments when tracking to a database directly.")
    experiment_name: str = "churn-training"
    model_name: str = "churn-classifier"

    # Data
    dataset: Path | None = Field(
        None,
        description="Dataset contract: a YAML file or a built-in name (telco). Unset: telco for training; "
        "serving, scoring and monitoring use the contract the served version was trained with.",
    )
    data: str | None = Field(None, description="CSV path or http(s) URL; None means the built-in synthetic data.")
    data_derived_from: str | None = Field(
        None, description="Set by retraining: the source a derived training file (base data + feedback) was built from; recorded on the version."
    )
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
    gate_min_roc_auc: float | None = Field(
        None, ge=0, le=1, description="Absolute floor for ROC AUC on the evaluation set; unset: the contract's gate.min_roc_auc."
    )
    gate_min_pr_auc: float | None = Field(None, ge=0, le=1, description="Absolute floor for PR AUC; unset: the contract's gate.min_pr_auc.")
    gate_evaluation_data: str | None = Field(
        None,
        description="A pinned evaluation CSV (path or URL) every challenger and the champion are scored on; "
        "unset: the champion's registered evaluation set. Its rows are never trained on.",
    )
    gate_tolerance: float = Field(0.005, ge=0, description="How much worse than the champion (test ROC AUC) is still accepted.")
    parity_tolerance: float = Field(1e-5, gt=0, description="Max |p_fast - p_sklearn| for the fast inference artifact.")
    threshold_metric: Literal["f1", "youden"] = "f1"
    system_metrics_seconds: float = Field(5.0, gt=0, description="Sampling interval of the MLflow system metrics logged during training.")

    # Serving (churnops serve)
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = Field(None, description="Key for /admin endpoints (X-API-Key header); admin is disabled when unset.")
    serve_alias: str = Field("champion", description="Registry alias the API serves and follows.")
    alias_poll_seconds: float = Field(10.0, gt=0, description="How often the API checks whether the alias moved.")
    max_batch_size: int = Field(1000, ge=1, description="Most customers accepted by /predict/batch and /invocations.")
    max_body_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="Largest request body (and WebSocket message) in bytes; bigger ones get 413 before parsing. "
        "A 1000-customer batch is about 650 KB of JSON.",
    )
    allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        None,
        min_length=1,
        description="Host header values the API answers (else 400); '*.example.com' and '*' allowed. "
        "Unset: 127.0.0.1, localhost and ::1 when bound to a loopback address, '*' otherwise. JSON list or comma-separated.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins (https://app.example.com) allowed to call the API (CORS) and open /ws/predict; "
        "default none. Clients that send no Origin (curl, SDKs) are not affected. JSON list or comma-separated.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Prediction store
    store_url: str = Field("sqlite:///predictions.db", description="SQLAlchemy URL of the prediction store (SQLite or postgresql://...).")
    spool_dir: Path = Field(Path(".churnops/spool"), description="Where records wait on disk while the store is unreachable.")
    store_batch_size: int = Field(500, ge=1, description="Most records written in one transaction.")
    store_flush_seconds: float = Field(0.2, gt=0, description="Longest a record waits in memory before it is written.")
    store_retry_seconds: float = Field(5.0, gt=0, description="How often spooled records are retried while the store is down.")
    request_log: bool = Field(True, description="Store every answered request (monitoring's latency and error figures).")

    # Monitoring (churnops monitor)
    monitoring_experiment: str = "churn-monitoring"
    monitor_window: str = Field("1d", description="Default window length: 30m, 6h, 1d, 7d ...")
    monitor_min_rows: int = Field(100, ge=1, description="Fewest predictions in a window for drift to be computed (fewer are reported, not tested).")
    monitor_min_labelled: int = Field(50, ge=1, description="Fewest predictions with feedback for the performance alert to be judged.")
    monitor_report_dir: Path = Field(Path(".churnops/monitoring"), description="Where monitoring runs also keep their HTML report and summary JSON.")
    drift_numeric_method: NumericMethod = "wasserstein"
    drift_categorical_method: CategoricalMethod = "jensenshannon"
    drift_threshold: float = Field(0.1, gt=0, description="Per-feature drift test threshold (a distance; a p-value for ks/chisquare).")
    drift_psi_threshold: float = Field(0.2, gt=0, description="PSI above which a feature is reported as shifted.")

    # Alerts: a breach is stored, tagged on the monitoring run and notified
    alert_drift_share: float = Field(0.3, gt=0, le=1, description="Alert when at least this share of features drifted.")
    alert_prediction_drift: float = Field(0.1, gt=0, description="Alert when the churn-probability drift score reaches this.")
    alert_min_roc_auc: float = Field(0.70, ge=0, le=1, description="Alert when ROC AUC on feedback falls below this.")
    alert_latency_p99_ms: float = Field(500.0, gt=0, description="Alert when the p99 request latency exceeds this.")
    alert_error_rate: float = Field(0.05, gt=0, le=1, description="Alert when the share of 5xx answers exceeds this.")
    alert_quality_share: float = Field(0.05, gt=0, le=1, description="Alert when missing, out-of-range or unseen-category cells exceed this share.")
    alert_webhook_url: str | None = Field(None, description="POST each alert as JSON to this URL (Slack/Teams-style incoming webhook).")
    smtp_host: str | None = Field(None, description="Send alerts by e-mail through this SMTP server.")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "churnops@localhost"
    smtp_recipients: list[str] = Field(default_factory=list, description='JSON list, e.g. ["oncall@example.com"].')
    retrain_allowed_data: list[str] = Field(
        default_factory=list,
        description='Data sources POST /admin/retrain may name besides CHURNOPS_DATA (JSON list of paths or URLs, e.g. ["/data/churn.csv"]).',
    )
    auto_retrain: bool = Field(False, description="Run the training pipeline (through the gate) when a drift or performance alert fires.")
    retrain_with_feedback: bool = Field(True, description="Retraining adds the window's predictions that have feedback to the training data.")
    retrain_data_dir: Path = Field(
        Path(".churnops/retrain"), description="Where retraining writes the training file it built (kept: the training run points at it)."
    )

    # Batch scoring (churnops score, the batch-scoring flow)
    batch_scoring_experiment: str = "churn-batch-scoring"
    batch_input: str | None = Field(None, description="CSV (path or URL) of customers the scheduled batch scoring scores; None: the training data.")
    batch_output_dir: Path = Field(Path(".churnops/batch"), description="Where batch scoring writes its Parquet files.")

    # Schedules served by `churnops schedule` (cron, in schedule_timezone); an empty value disables that deployment.
    schedule_training_cron: str | None = Field("0 2 * * *", description="Training flow: daily at 02:00.")
    schedule_monitoring_cron: str | None = Field("0 * * * *", description="Monitoring flow: hourly, over the last hour.")
    schedule_batch_scoring_cron: str | None = Field("30 3 * * *", description="Batch-scoring flow: nightly at 03:30, after training.")
    schedule_timezone: str = Field("UTC", description="IANA time zone the cron schedules are read in.")
    schedule_monitoring_window: str = Field("1h", description="Window each scheduled monitoring run measures (match the monitoring cron).")

    # Elasticsearch / Kibana
    elasticsearch_url: str | None = Field(None, description="Export predictions, feedback, alerts and monitoring results here.")
    elasticsearch_api_key: SecretStr | None = None
    elasticsearch_index_prefix: str = Field("churnops", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    elasticsearch_export_seconds: float = Field(10.0, gt=0, description="How often the API exports new records.")
    elasticsearch_max_retries: int = Field(5, ge=0)
    kibana_url: str | None = None
    kibana_api_key: SecretStr | None = None

    @field_validator("data", "data_sha256", "gate_evaluation_data", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        """`--data ""` (e.g. from MLproject defaults) means: use synthetic data."""
        return None if isinstance(value, str) and value.strip() in ("", "synthetic") else value

    @field_validator(
        "api_key",
        "alert_webhook_url",
        "smtp_host",
        "elasticsearch_url",
        "elasticsearch_api_key",
        "kibana_url",
        "kibana_api_key",
        "batch_input",
        "dataset",
        "data_derived_from",
        "schedule_training_cron",
        "schedule_monitoring_cron",
        "schedule_batch_scoring_cron",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _list_or_commas(cls, value: object, info: ValidationInfo) -> object:
        """`["a", "b"]` (what as_environment writes) or `a,b` (what people type); blank hosts mean the default."""
        if not isinstance(value, str):
            return value
        if not value.strip() and info.field_name == "allowed_hosts":
            return None
        if value.strip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str] | None) -> list[str] | None:
        for host in hosts or []:
            if "*" in host[1:] or (host.startswith("*") and host != "*" and not host.startswith("*.")):
                raise ValueError(f"'{host}' is not a host pattern: use a name (api.example.com), '*.example.com' or '*'")
        return hosts

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

    def allows_training_source(self, data: str) -> bool:
        """Retraining on request (API, flow parameter) may use CHURNOPS_DATA or a CHURNOPS_RETRAIN_ALLOWED_DATA source only."""

        def normalised(source: str) -> str:
            return source if "://" in source else str(Path(source).expanduser().resolve())

        return normalised(data) in {normalised(source) for source in [self.data, *self.retrain_allowed_data] if source}

    def tracking_is_local_database(self) -> bool:
        return self.tracking_uri.startswith(("sqlite:", "postgresql", "mysql", "mssql"))


def load_settings(env_file: Path | None = None, **overrides: object) -> Settings:
    """Settings from the environment and `env_file` (default ./.env), with the given overrides (None: not overridden).

    A bad value becomes a ConfigError naming the setting, for the CLI, the flows and the watcher alike.
    """
    values = {key: value for key, value in overrides.items() if value is not None}
    if env_file is not None:
        values["_env_file"] = env_file
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, issue['loc']))}: {issue['msg']}" for issue in error.errors())
        raise ConfigError(
            f"Invalid settings in CHURNOPS_* variables or {env_file or '.env'}: {problems}. Fix or unset them and run again."
        ) from error
