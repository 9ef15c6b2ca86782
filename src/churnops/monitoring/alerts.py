"""Alert rules over a monitoring summary, and where a breach goes: the store, the log, a webhook, e-mail."""

from __future__ import annotations

import logging
import operator
import smtplib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from churnops.monitoring.window import Window
from churnops.serving.store import ALERTS, MONITORING_RUNS
from churnops.settings import Settings

log = logging.getLogger("churnops.alerts")

_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class AlertRule:
    name: str
    metric: str  # a key of the monitoring run's flat metrics
    comparison: str  # ">=", ">" or "<": how `value` and the threshold make a breach
    threshold_setting: str  # the Settings field holding the threshold
    retrain: bool  # whether retraining can fix it (drift and performance can; latency cannot)
    description: str


RULES = (
    AlertRule("data_drift", "drift/share_drifted_features", ">=", "alert_drift_share", True, "share of drifted features"),
    AlertRule("prediction_drift", "drift/prediction/score", ">=", "alert_prediction_drift", True, "churn-probability drift score"),
    AlertRule("performance", "performance/roc_auc", "<", "alert_min_roc_auc", True, "ROC AUC on feedback"),
    AlertRule("latency", "service/latency_p99_ms", ">", "alert_latency_p99_ms", False, "p99 request latency (ms)"),
    AlertRule("error_rate", "service/error_rate", ">", "alert_error_rate", False, "share of 5xx answers"),
    AlertRule("missing_values", "quality/missing_share", ">", "alert_quality_share", False, "share of missing feature values"),
    AlertRule("out_of_range", "quality/out_of_range_share", ">", "alert_quality_share", False, "share of numbers outside the training range"),
    AlertRule("unseen_categories", "quality/unseen_category_share", ">", "alert_quality_share", False, "share of categories unseen in training"),
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


def evaluate_rules(metrics: Mapping[str, float], settings: Settings, window: Window, model_version: str | None, run_id: str | None) -> list[Alert]:
    """One alert per breached rule; a rule whose metric was not measured (too few rows, no feedback) is skipped."""
    alerts = []
    now = datetime.now(UTC)
    for rule in RULES:
        value = metrics.get(rule.metric)
        if value is None:
            continue
        threshold = float(getattr(settings, rule.threshold_setting))
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


def notify(alerts: list[Alert], settings: Settings) -> dict[str, str]:
    """Send alerts everywhere configured; returns channel -> outcome. A failing channel is logged, never raised."""
    if not alerts:
        return {}
    for alert in alerts:
        log.warning("ALERT %s", alert.message, extra={"alert": alert.to_dict()})
    outcome = {"log": "sent"}
    if settings.alert_webhook_url:
        outcome["webhook"] = _post_webhook(settings.alert_webhook_url, alerts)
    if settings.smtp_host and settings.smtp_recipients:
        outcome["email"] = _send_email(settings, alerts)
    return outcome


def _post_webhook(url: str, alerts: list[Alert]) -> str:
    payload = {"text": "\n".join(f"churnops alert - {alert.message}" for alert in alerts), "alerts": [alert.to_dict() for alert in alerts]}
    last = ""
    for attempt in range(3):
        try:
            response = httpx.post(url, json=payload, timeout=5.0)
            if response.status_code < 300:
                return "sent"
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            last = f"{type(error).__name__}: {error}"
        log.warning("Alert webhook %s failed (attempt %d of 3): %s", url, attempt + 1, last)
    return f"failed ({last})"


def _send_email(settings: Settings, alerts: list[Alert]) -> str:
    message = EmailMessage()
    message["Subject"] = f"[churnops] {len(alerts)} alert(s): {', '.join(sorted({alert.rule for alert in alerts}))}"
    message["From"] = settings.smtp_sender
    message["To"] = ", ".join(settings.smtp_recipients)
    message.set_content("\n".join(alert.message for alert in alerts) + "\n")
    assert settings.smtp_host is not None
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user and settings.smtp_password:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.error("Alert e-mail through %s:%d failed: %s", settings.smtp_host, settings.smtp_port, error)
        return f"failed ({type(error).__name__}: {error})"
    return "sent"
