"""One monitoring run: read a window, measure it against the champion's reference, log, alert, maybe retrain.

Every figure goes to MLflow (experiment `churn-monitoring`) stamped with the window's end time,
so successive runs chart as a time series; the Evidently HTML report and a summary JSON are
artifacts of the run and are also kept under `monitor_report_dir`.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric

from churnops.data.contract import DatasetContract, load_contract
from churnops.errors import ConfigError
from churnops.model.churn_model import version_contract
from churnops.model.reference import PROBABILITY, Reference, load_reference
from churnops.monitoring import alerts as alerting
from churnops.monitoring.drift import DriftConfig, DriftResult, detect_drift
from churnops.monitoring.health import measure_host, measure_service
from churnops.monitoring.performance import measure_performance
from churnops.monitoring.quality import check_quality
from churnops.monitoring.retraining import retrain
from churnops.monitoring.window import Window, WindowData, read_window
from churnops.retraining import RetrainingFailed
from churnops.settings import DriftSettings, Settings
from churnops.store import create_store_engine
from churnops.tracking import connect, ensure_experiment

log = logging.getLogger("churnops.monitoring")

REPORT_NAME = "drift_report.html"
SUMMARY_NAME = "summary.json"
_METRIC_UNSAFE = re.compile(r"[^\w.\- ]")
_METRIC_PART_LENGTH = 200  # MLflow keys are at most 250 characters with the 'drift/score/' prefix


def run_monitoring(settings: Settings, window: Window, progress: Any = None) -> dict[str, Any]:
    """Measure `window` and return the summary (also logged to MLflow as summary.json)."""
    step = progress.step if progress is not None else (lambda name: None)
    started = time.perf_counter()
    step("reference")
    client = connect(settings)
    reference = load_reference(settings, client)
    # The window is read with the contract the monitored version was trained with, unless --dataset overrides it.
    contract = load_contract(settings.dataset) if settings.dataset else version_contract(settings.model_name, reference.version)
    engine = create_store_engine(settings.store.url)
    try:
        step("read window")
        data = read_window(engine, window, contract)
        current = data.predictions
        summary, drift = _measure(settings, contract, reference, data, step)
        metrics = flat_metrics(summary, drift)
        if summary["performance"]["labelled"] < settings.monitoring.min_labelled:
            metrics.pop("performance/roc_auc", None)  # too few labels to judge; still reported in the summary

        step("log to MLflow")
        ensure_experiment(settings, settings.monitoring.experiment)
        with mlflow.start_run(run_name=f"monitor-{window.end:%Y-%m-%dT%H:%M}") as run:
            run_id = run.info.run_id
            found = alerting.evaluate_rules(metrics, settings.alerts, window, reference.version, run_id)
            summary.update(run_id=run_id, metrics=metrics, alerts=[alert.to_dict() for alert in found])
            _log_run(client, run_id, summary, metrics, drift, window, found, settings.drift)
        step("alerts")
        alerting.record_run(engine, summary, metrics, found)
        summary["notifications"] = alerting.notify(found, settings.alerts)
        if settings.elasticsearch.url:
            step("export")
            from churnops.store.elasticsearch import ElasticsearchExporter  # noqa: PLC0415 - the client (~2 s to import) only when configured

            summary["export"] = ElasticsearchExporter(settings.elasticsearch, contract).export_all(engine, summary)
        summary["retraining"] = None
        if settings.retraining.on_alert and any(alert.retrain for alert in found):
            step("retrain")
            summary["retraining"] = _retrain(settings, contract, current, client, run_id)
        summary["seconds"] = round(time.perf_counter() - started, 2)
        _keep_locally(settings.monitoring.report_dir, summary, drift, run_id)
        return summary
    finally:
        engine.dispose()


def _retrain(settings: Settings, contract: DatasetContract, current: pd.DataFrame, client: MlflowClient, run_id: str) -> dict[str, Any]:
    """Retrain after an alert; a skipped or failed retraining is on record and keeps the monitoring run."""
    try:
        outcome = retrain(settings, contract, current)
    except ConfigError as error:  # no configured data: retraining could not replace the champion
        log.warning("auto-retrain skipped: %s", error)
        client.set_tag(run_id, "retrain.skipped", str(error)[:500])
        return {"skipped": str(error)}
    except RetrainingFailed as error:
        log.error("auto-retrain failed: %s", error)
        client.set_tag(run_id, "retrain.failed", str(error)[:500])
        return {"failed": str(error)}
    client.set_tag(run_id, "retrain.version", outcome.version)
    client.set_tag(run_id, "retrain.promoted", str(outcome.promoted).lower())
    return asdict(outcome)


def _measure(
    settings: Settings, contract: DatasetContract, reference: Reference, data: WindowData, step: Callable[[str], object]
) -> tuple[dict[str, Any], DriftResult | None]:
    """The window's figures as the run's summary: drift (with enough predictions), quality, performance, service, host."""
    window, current = data.window, data.predictions
    numeric, categorical = contract.numeric_columns, contract.categorical_columns
    drift: DriftResult | None = None
    if len(current) >= settings.monitoring.min_rows:
        step("drift")
        drift = detect_drift(
            reference.frame,
            current.rename(columns={"probability": PROBABILITY}),
            numeric,
            categorical,
            PROBABILITY,
            DriftConfig.from_settings(settings.drift),
        )
    step("quality, performance, service")
    quality = check_quality(reference.frame, current, numeric, categorical)
    performance = measure_performance(current, reference.test_metrics)
    service = measure_service(data.requests, len(current))
    host = measure_host(_store_folder(settings.store.url))
    summary: dict[str, Any] = {
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "model": {"name": reference.model_name, "version": reference.version, "threshold": reference.threshold},
        "served_versions": sorted(current["model_version"].astype(str).unique().tolist()),
        "drift": drift.to_dict()
        if drift
        else {"skipped": f"{len(current)} predictions in the window; drift needs at least {settings.monitoring.min_rows}"},
        "quality": quality.to_dict(),
        "performance": performance.to_dict(),
        "service": service.to_dict(),
        "host": host.to_dict(),
    }
    return summary, drift


def flat_metrics(summary: dict[str, Any], drift: DriftResult | None) -> dict[str, float]:
    """The summary's numbers as MLflow metric names (grouped by prefix in the MLflow UI); unmeasured ones left out."""
    metrics: dict[str, float] = {}
    for section in ("quality", "performance", "service", "host"):
        for key, value in summary[section].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[f"{section}/{key}"] = float(value)
    for key, value in summary["performance"]["reference"].items():
        metrics[f"performance/reference_{key}"] = float(value)
    if drift is not None:
        metrics["drift/share_drifted_features"] = drift.share_drifted
        metrics["drift/drifted_features"] = float(len(drift.drifted_features))
        metrics["drift/prediction/score"] = drift.prediction.score
        metrics["drift/prediction/psi"] = drift.prediction.psi
        for name, key in metric_keys(list(drift.features)).items():
            metrics[f"drift/score/{key}"] = drift.features[name].score
            metrics[f"drift/psi/{key}"] = drift.features[name].psi
    return metrics


def metric_keys(columns: list[str]) -> dict[str, str]:
    """Each column's part of an MLflow metric name (summary.json keeps the real names).

    MLflow refuses characters outside letters, digits, `_ - . space /` (and `:` except on Windows servers), and
    names that are not normalized paths; a `/` would also nest the column one level deeper in the UI. So every
    other character becomes `_` ('monthly spend ($)' -> 'monthly spend ___', 'sessions/week' -> 'sessions_week'),
    and names that then clash get a number.
    """
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        candidate = _METRIC_UNSAFE.sub("_", column).strip()[:_METRIC_PART_LENGTH]
        if not candidate.strip("."):
            candidate = "_" + candidate  # '.', '..' and '' are not names
        key, number = candidate, 1
        while key in taken:
            number += 1
            key = f"{candidate}_{number}"
        taken.add(key)
        keys[column] = key
    return keys


def _log_run(
    client: Any,
    run_id: str,
    summary: dict[str, Any],
    metrics: dict[str, float],
    drift: DriftResult | None,
    window: Window,
    found: list[alerting.Alert],
    drift_settings: DriftSettings,
) -> None:
    at = int(window.end.timestamp() * 1000)
    client.log_batch(run_id, metrics=[Metric(key, value, at, 0) for key, value in metrics.items()])
    tags = {
        "churnops.kind": "monitoring",
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "model_version": summary["model"]["version"],
        "alerts": ",".join(alert.rule for alert in found) or "none",
        **{f"alert.{alert.rule}": alert.message for alert in found},
    }
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    mlflow.log_params(
        {
            "window_length_s": int((window.end - window.start).total_seconds()),
            "drift_numeric_method": drift_settings.numeric_method,
            "drift_categorical_method": drift_settings.categorical_method,
            "drift_threshold": drift_settings.threshold,
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        if drift is not None:
            mlflow.log_artifact(str(drift.save_html(Path(folder) / REPORT_NAME)))
    mlflow.log_dict(_json_ready(summary), SUMMARY_NAME)


def _keep_locally(report_dir: Path, summary: dict[str, Any], drift: DriftResult | None, run_id: str) -> None:
    folder = report_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    if drift is not None:
        drift.save_html(folder / REPORT_NAME)
    (folder / SUMMARY_NAME).write_text(json.dumps(_json_ready(summary), indent=2))
    summary["report_dir"] = str(folder)


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _store_folder(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///")).resolve().parent if url.startswith("sqlite:///") else Path.cwd()
