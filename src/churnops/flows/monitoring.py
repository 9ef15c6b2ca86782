"""The monitoring flow: one monitoring run over a window of stored predictions (same step as `churnops monitor`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from churnops.flows.runs import RETRIES, RETRY_DELAYS_SECONDS, RunLogProgress, link_mlflow_runs, publish_summary, retry_on_transient_errors
from churnops.monitoring.run import run_monitoring
from churnops.monitoring.window import Window, parse_time
from churnops.settings import Settings, load_settings


# Transient failures (store or tracking server unreachable) happen while reading, before anything is recorded.
@task(
    name="monitor window",
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_errors,
)
def monitor(settings: Settings, window: Window) -> dict[str, Any]:
    return run_monitoring(settings, window, RunLogProgress())


@flow(name="monitoring", log_prints=True)
def monitoring_flow(window: str | None = None, end: str | None = None, auto_retrain: bool | None = None) -> dict[str, Any]:
    """Drift, quality, performance and service health of the window ending at `end` (default now); alerts; maybe retraining."""
    settings = load_settings(monitor_window=window, auto_retrain=auto_retrain)
    span = Window.ending(settings.monitoring.window, parse_time(end) if end else None)
    summary = monitor(settings, span)
    runs = {"monitoring": summary["run_id"]}
    if summary.get("retraining"):
        runs["retraining"] = summary["retraining"]["training_run_id"]
    link_mlflow_runs(settings, runs)
    alerts = ", ".join(alert["rule"] for alert in summary["alerts"]) or "none"
    publish_summary("monitoring-summary", f"Monitoring {span.describe()}: alerts {alerts}", _headline(summary))
    return summary


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The figures worth a glance in the Prefect UI; the full summary is the MLflow run's summary.json."""
    drift = summary["drift"]
    return {
        "mlflow_run_id": summary["run_id"],
        "model_version": summary["model"]["version"],
        "predictions": summary["quality"]["rows"],
        "share_drifted_features": drift.get("share_drifted_features", drift.get("skipped")),
        "roc_auc_on_feedback": summary["performance"]["roc_auc"],
        "alerts": [alert["message"] for alert in summary["alerts"]],
        "retraining": summary["retraining"],
    }
