"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import math
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PROBABILITY_BUCKETS = tuple(round(step / 10, 1) for step in range(1, 11))

disable_created_metrics()  # the *_created series only add noise to every scrape


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "churnops_requests", "HTTP requests by route template, method and status.", ["endpoint", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "churnops_request_latency_seconds", "Request latency by route template.", ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.predictions = Counter("churnops_predictions", "Predictions served, by predicted label.", ["label"], registry=self.registry)
        self.probability = Histogram(
            "churnops_prediction_probability", "Predicted churn probabilities.", buckets=PROBABILITY_BUCKETS, registry=self.registry
        )
        self.model_version = Gauge(
            "churnops_model_version",
            "Version number of the served model (0 when none is loaded).",
            ["model_name", "inference"],
            registry=self.registry,
        )
        self.queue_depth = Gauge("churnops_store_queue_depth", "Prediction-store records waiting in memory.", registry=self.registry)
        self.spooled = Gauge("churnops_store_spooled_records", "Records spooled to disk while the store is unreachable.", registry=self.registry)
        # From the latest monitoring run (`churnops monitor`), for Prometheus alert rules.
        self.drift_share = Gauge("churnops_drift_share", "Share of features drifted in the latest monitoring window.", registry=self.registry)
        self.prediction_drift = Gauge(
            "churnops_prediction_drift_score", "Churn-probability drift score of the latest monitoring window.", registry=self.registry
        )
        self.feedback_roc_auc = Gauge("churnops_feedback_roc_auc", "ROC AUC on feedback in the latest monitoring window.", registry=self.registry)
        self.monitoring_window_end = Gauge(
            "churnops_monitoring_window_end_timestamp_seconds",
            "End of the latest monitoring window (Unix time; 0 before the first run).",
            registry=self.registry,
        )

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_predictions(self, probabilities: Sequence[float], labels: Sequence[str]) -> None:
        for probability in probabilities:
            self.probability.observe(probability)
        for label, count in Tally(labels).items():
            self.predictions.labels(label).inc(count)

    def track_store(self, queue_depth: Callable[[], float], spooled: Callable[[], float]) -> None:
        self.queue_depth.set_function(queue_depth)
        self.spooled.set_function(spooled)

    def set_monitoring(self, latest: dict[str, Any] | None) -> None:
        """Gauges without a measured value (no run yet, too few rows, no feedback) are NaN, which alert rules ignore."""
        latest = latest or {}
        self.drift_share.set(_or_nan(latest.get("share_drifted_features")))
        self.prediction_drift.set(_or_nan(latest.get("prediction_drift_score")))
        self.feedback_roc_auc.set(_or_nan(latest.get("roc_auc")))
        window_end = latest.get("window_end")
        self.monitoring_window_end.set(window_end.timestamp() if window_end else 0)

    def set_model(self, name: str, version: str | None, inference: str | None) -> None:
        self.model_version.clear()
        self.model_version.labels(name, inference or "none").set(float(version) if version and version.isdigit() else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
