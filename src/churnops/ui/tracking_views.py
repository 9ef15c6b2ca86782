"""What the front end reads from MLflow: registry versions, a version's evaluation, the monitoring runs' history.

Plain functions returning plain data (tables, bytes), so the pages only lay them out.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException

from churnops.reports import model_versions
from churnops.settings import Settings
from churnops.tracking import connect

PLOTS = {  # the evaluation run's figures (training/evaluate.py), in the order a reader wants them
    "roc_curve.png": "ROC curve",
    "precision_recall_curve.png": "Precision-recall curve",
    "calibration_curve.png": "Calibration",
    "confusion_matrix.png": "Confusion matrix",
}
MONITORING_METRICS = {  # monitoring/run.py flat_metrics names -> what the charts call them
    "performance/roc_auc": "ROC AUC on feedback",
    "drift/share_drifted_features": "Share of drifted features",
    "service/predictions": "Predictions",
    "service/requests": "Requests",
    "service/latency_p50_ms": "Latency p50 (ms)",
    "service/latency_p95_ms": "Latency p95 (ms)",
}
PSI_PREFIX = "drift/psi/"
DRIFT_REPORT = "drift_report.html"  # monitoring/run.py REPORT_NAME


@dataclass(frozen=True)
class Evaluation:
    run_id: str
    metrics: dict[str, float]  # test_* metrics of the evaluation run
    plots: dict[str, bytes]  # title -> PNG


def versions(settings: Settings) -> pd.DataFrame:
    """One row per registered version, newest first (RegistryError when the model is not registered yet)."""
    rows = model_versions(settings)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["aliases"] = frame["aliases"].map(lambda names: " ".join(f"@{name}" for name in names))
    return frame


def evaluation(settings: Settings, run_id: str) -> Evaluation:
    client = connect(settings)
    run = client.get_run(run_id)
    metrics = {key: value for key, value in sorted(run.data.metrics.items()) if key.startswith("test_")}
    plots: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = Path(client.download_artifacts(run_id, "plots", folder))
        except (MlflowException, OSError):
            local = Path(folder) / "none"  # a run without plots (older versions): metrics only
        for name, title in PLOTS.items():
            if (local / name).is_file():
                plots[title] = (local / name).read_bytes()
    return Evaluation(run_id, metrics, plots)


def monitoring_history(settings: Settings, limit: int = 500) -> pd.DataFrame:
    """The monitoring runs, oldest first: window end, model version, alerts, every metric (PSI per feature as psi:<feature>)."""
    client = connect(settings)
    experiment = client.get_experiment_by_name(settings.monitoring.experiment)
    if experiment is None:
        return pd.DataFrame()
    runs = client.search_runs([experiment.experiment_id], "tags.`churnops.kind` = 'monitoring'", max_results=limit, order_by=["start_time DESC"])
    rows: list[dict[str, Any]] = []
    for run in runs:
        tags = run.data.tags
        row: dict[str, Any] = {
            "window_end": pd.Timestamp(tags.get("window_end") or pd.Timestamp(run.info.start_time, unit="ms", tz="UTC")),
            "run_id": run.info.run_id,
            "experiment_id": experiment.experiment_id,
            "model_version": tags.get("model_version"),
            "alerts": tags.get("alerts", "none"),
            "alert_messages": {key.removeprefix("alert."): value for key, value in tags.items() if key.startswith("alert.")},
        }
        for key, value in run.data.metrics.items():
            if key in MONITORING_METRICS:
                row[MONITORING_METRICS[key]] = value
            elif key.startswith(PSI_PREFIX):
                row[f"psi:{key.removeprefix(PSI_PREFIX)}"] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("window_end", ignore_index=True) if not frame.empty else frame


def drift_report(settings: Settings, run_id: str) -> bytes | None:
    """The run's Evidently report (HTML), or None when the window was too small for drift."""
    client = connect(settings)
    with tempfile.TemporaryDirectory() as folder:
        try:
            return Path(client.download_artifacts(run_id, DRIFT_REPORT, folder)).read_bytes()
        except (MlflowException, OSError):
            return None


def mlflow_ui_url(settings: Settings) -> str | None:
    """Where a person opens the MLflow UI: the setting, else an http(s) tracking URI; None for a local database."""
    if settings.ui.mlflow_ui_url:
        return settings.ui.mlflow_ui_url.rstrip("/")
    return settings.tracking_uri.rstrip("/") if settings.tracking_uri.startswith(("http://", "https://")) else None
