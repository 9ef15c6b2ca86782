"""Alert rules over a monitoring summary, and where a breach goes: the store, the log, a webhook, e-mail (see notifications.py)."""

from __future__ import annotations

import logging
import operator
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from churnops.monitoring.window import Window
from churnops.notifications import email_configured, post_webhook, send_email
from churnops.settings import AlertSettings
from churnops.store import ALERTS, MONITORING_RUNS

log = logging.getLogger("churnops.alerts")

_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class AlertRule:
    name: str
    metric: str  # a key of the monitoring run's flat metrics
    comparison: str  # ">=", ">" or "<": how `value` and the threshold make a breach
    threshold_setting: str  # the AlertSettings field holding the threshold
    retrain: bool  # whether retraining can fix it (drift and performance can; latency cannot)
    description: str


RULES = (
    AlertRule("data_drift", "drift/share_drifted_features", ">=", "drift_share", True, "share of drifted features"),
    AlertRule("prediction_drift", "drift/prediction/score", ">=", "prediction_drift", True, "churn-probability drift score"),
    AlertRule("performance", "performance/roc_auc", "<", "min_roc_auc", True, "ROC AUC on feedback"),
    AlertRule("latency", "service/latency_p99_ms", ">", "latency_p99_ms", False, "p99 request latency (ms)"),
    AlertRule("error_rate", "service/error_rate", ">", "error_rate", False, "share of 5xx answers"),
    AlertRule("missing_values", "quality/missing_share", ">", "quality_share", False, "share of missing feature values"),
    AlertRule("out_of_range", "quality/out_of_range_share", ">", "quality_share", False, "share of numbers outside the training range"),
    AlertRule("unseen_categories", "quality/unseen_category_share", ">", "quality_share", False, "share of categories unseen in training"),
)


@dataclass(frozen=True)
class Alert:
    id: str
    raised_at: datetime
    rule: str
    metric: str
    value: float
    threshold: float
    window_start: datetime
    window_end: datetime
    model_version: str | None
    monitoring_run_id: str | None
    message: str
    retrain: bool

    def to_dict(self) -> dict[str, Any]:
        return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in asdict(self).items()}


def evaluate_rules(
    metrics: Mapping[str, float], thresholds: AlertSettings, window: Window, model_version: str | None, run_id: str | None
) -> list[Alert]:
    """One alert per breached rule; a rule whose metric was not measured (too few rows, no feedback) is skipped."""
    alerts = []
    now = datetime.now(UTC)
    for rule in RULES:
        value = metrics.get(rule.metric)
        if value is None:
            continue
        threshold = float(getattr(thresholds, rule.threshold_setting))
        if _COMPARE[rule.comparison](value, threshold):
            message = (
                f"{rule.name}: {rule.description} is {value:.4g} ({rule.comparison} {threshold:g}) in {window.describe()} for version {model_version}"
            )
            alerts.append(
                Alert(
                    uuid.uuid4().hex,
                    now,
                    rule.name,
                    rule.metric,
                    float(value),
                    threshold,
                    window.start,
                    window.end,
                    model_version,
                    run_id,
                    message,
                    rule.retrain,
                )
            )
    return alerts


def record_run(engine: Engine, summary: dict[str, Any], metrics: Mapping[str, float], alerts: list[Alert]) -> None:
    """The run's headline figures and its alerts, in one transaction of the prediction store."""
    run = {
        "run_id": summary["run_id"],
        "window_start": datetime.fromisoformat(summary["window"]["start"]),
        "window_end": datetime.fromisoformat(summary["window"]["end"]),
        "model_version": summary["model"]["version"],
        "predictions": summary["quality"]["rows"],
        "share_drifted_features": metrics.get("drift/share_drifted_features"),
        "prediction_drift_score": metrics.get("drift/prediction/score"),
        "roc_auc": metrics.get("performance/roc_auc"),
        "alerts": len(alerts),
    }
    with engine.begin() as connection:
        connection.execute(sa.insert(MONITORING_RUNS), [run])
        if alerts:
            connection.execute(sa.insert(ALERTS), [{key: value for key, value in asdict(alert).items() if key != "retrain"} for alert in alerts])


def notify(alerts: list[Alert], channels: AlertSettings) -> dict[str, str]:
    """Send alerts everywhere configured; returns channel -> outcome. A failing channel is logged, never raised."""
    if not alerts:
        return {}
    for alert in alerts:
        log.warning("ALERT %s", alert.message, extra={"alert": alert.to_dict()})
    outcome = {"log": "sent"}
    if channels.webhook_url:
        outcome["webhook"] = post_webhook(channels.webhook_url, _webhook_payload(alerts))
    if email_configured(channels):
        outcome["email"] = send_email(channels, _email_subject(alerts), "\n".join(alert.message for alert in alerts))
    return outcome


def _webhook_payload(alerts: list[Alert]) -> dict[str, Any]:
    """A `text` line for chat webhooks (Slack, Teams) and the full alerts for programs."""
    return {"text": "\n".join(f"churnops alert - {alert.message}" for alert in alerts), "alerts": [alert.to_dict() for alert in alerts]}


def _email_subject(alerts: list[Alert]) -> str:
    return f"[churnops] {len(alerts)} alert(s): {', '.join(sorted({alert.rule for alert in alerts}))}"
