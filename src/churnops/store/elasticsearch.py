"""Export predictions, feedback, alerts and monitoring results to Elasticsearch (official client, bulk API).

Indices are date-based (`churnops-predictions-2026.11.22`) and created from index templates
with explicit mappings. The prediction store stays the source of truth: a row is marked
`exported_at` only after Elasticsearch acknowledged it, so an outage (or a row replayed late
from a spool) is exported on a later round, and documents carry their store id as `_id`, so
sending one twice overwrites instead of duplicating.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch, helpers
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from churnops.data.contract import DatasetContract
from churnops.settings import ElasticsearchSettings
from churnops.store import ALERTS, FEEDBACK, PREDICTIONS, migrate

log = logging.getLogger("churnops.elasticsearch")

PAGE = 2000  # store rows read and bulk-sent per round trip
RETRY_STATUSES = (429, 502, 503, 504)
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
TEMPLATE_PRIORITY = 200  # above Elasticsearch's built-in templates for common patterns

_KEYWORD = {"type": "keyword"}
_DOUBLE = {"type": "double"}
_DATE = {"type": "date"}
_BOOLEAN = {"type": "boolean"}


class ExportFailed(Exception):
    """Elasticsearch could not take a batch even after the retries."""


def mappings(contract: DatasetContract) -> dict[str, dict[str, Any]]:
    """Explicit mappings per kind of document; fields not listed here are kept in _source, not indexed."""
    features = {name: _DOUBLE if spec.is_numeric else _KEYWORD for name, spec in contract.columns.items()}
    numbers = lambda *names: {name: _DOUBLE for name in names}  # noqa: E731
    return {
        "predictions": {
            "@timestamp": _DATE,
            "prediction_id": _KEYWORD,
            "model_name": _KEYWORD,
            "model_version": _KEYWORD,
            "probability": _DOUBLE,
            "churn": _BOOLEAN,
            "threshold": _DOUBLE,
            "latency_ms": _DOUBLE,
            "endpoint": _KEYWORD,
            "request_id": _KEYWORD,
            "features": {"properties": features},
        },
        "feedback": {"@timestamp": _DATE, "feedback_id": _KEYWORD, "prediction_id": _KEYWORD, "churned": _BOOLEAN, "request_id": _KEYWORD},
        "alerts": {
            "@timestamp": _DATE,
            "alert_id": _KEYWORD,
            "rule": _KEYWORD,
            "metric": _KEYWORD,
            "value": _DOUBLE,
            "threshold": _DOUBLE,
            "window_start": _DATE,
            "window_end": _DATE,
            "model_version": _KEYWORD,
            "monitoring_run_id": _KEYWORD,
            "message": {"type": "text"},
        },
        "monitoring": {
            "@timestamp": _DATE,
            "run_id": _KEYWORD,
            "window_start": _DATE,
            "model_version": _KEYWORD,
            "alerts": _KEYWORD,
            "alert_count": {"type": "integer"},
            "drift": {"properties": {**numbers("share_drifted_features", "drifted_features", "prediction_score", "prediction_psi")}},
            "quality": {"properties": numbers("rows", "missing_share", "out_of_range_share", "unseen_category_share")},
            "performance": {
                "properties": numbers(
                    "labelled",
                    "roc_auc",
                    "precision",
                    "recall",
                    "f1",
                    "brier",
                    "calibration_error",
                    "positive_rate",
                    "observed_churn_rate",
                    "reference_roc_auc",
                )
            },
            "service": {
                "properties": numbers(
                    "requests", "predictions", "errors", "client_errors", "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"
                )
            },
            "host": {"properties": numbers("cpu_percent", "memory_percent", "disk_percent")},
        },
        "feature-drift": {
            "@timestamp": _DATE,
            "run_id": _KEYWORD,
            "model_version": _KEYWORD,
            "feature": _KEYWORD,
            "method": _KEYWORD,
            "score": _DOUBLE,
            "psi": _DOUBLE,
            "threshold": _DOUBLE,
            "drifted": _BOOLEAN,
        },
    }


class ElasticsearchExporter:
    def __init__(self, elasticsearch: ElasticsearchSettings, contract: DatasetContract, sleep: Callable[[float], None] = time.sleep) -> None:
        if not elasticsearch.url:
            raise ValueError("ElasticsearchExporter needs CHURNOPS_ELASTICSEARCH_URL")
        self.url = elasticsearch.url
        self.prefix = elasticsearch.index_prefix
        self.max_retries = elasticsearch.max_retries
        self.contract = contract
        self.sleep = sleep
        api_key = elasticsearch.api_key.get_secret_value() if elasticsearch.api_key else None
        # Retries are ours (with backoff), not the transport's immediate ones.
        self.client = Elasticsearch(self.url, api_key=api_key, request_timeout=10, max_retries=0, retry_on_timeout=False)
        self._templates_ready = False

    def index_name(self, kind: str, at: datetime) -> str:
        return f"{self.prefix}-{kind}-{at.astimezone(UTC):%Y.%m.%d}"

    def ensure_templates(self) -> None:
        """One index template per kind of document, so each day's new index gets the explicit mappings."""
        if self._templates_ready:
            return
        for kind, properties in mappings(self.contract).items():
            self._with_backoff(f"index template {self.prefix}-{kind}", partial(self._put_template, kind, properties))
        self._templates_ready = True

    def _put_template(self, kind: str, properties: dict[str, Any]) -> None:
        self.client.indices.put_index_template(
            name=f"{self.prefix}-{kind}",
            index_patterns=[f"{self.prefix}-{kind}-*"],
            priority=TEMPLATE_PRIORITY,
            template={"settings": {"number_of_replicas": 0}, "mappings": {"dynamic": False, "properties": properties}},
            meta={"managed_by": "churnops"},
        )

    # -- store rows --

    def export_pending(self, engine: Engine) -> dict[str, int]:
        """Send every store row not yet exported; returns how many of each were acknowledged."""
        self.ensure_templates()
        migrate(engine)
        return {
            "predictions": self._export_table(engine, PREDICTIONS, PREDICTIONS.c.id, PREDICTIONS.c.created_at, self._prediction_doc, "predictions"),
            "feedback": self._export_table(engine, FEEDBACK, FEEDBACK.c.feedback_id, FEEDBACK.c.received_at, self._feedback_doc, "feedback"),
            "alerts": self._export_table(engine, ALERTS, ALERTS.c.id, ALERTS.c.raised_at, self._alert_doc, "alerts"),
        }

    def _export_table(
        self, engine: Engine, table: sa.Table, key: sa.Column, timestamp: sa.Column, to_doc: Callable[[Any], dict[str, Any]], kind: str
    ) -> int:
        exported = 0
        while True:
            with engine.connect() as connection:
                rows = connection.execute(sa.select(table).where(table.c.exported_at.is_(None)).order_by(timestamp).limit(PAGE)).all()
            if not rows:
                return exported
            actions = [
                {"_index": self.index_name(kind, getattr(row, timestamp.name)), "_id": getattr(row, key.name), "_source": to_doc(row)} for row in rows
            ]
            acknowledged = self.bulk(actions)
            if acknowledged:
                with engine.begin() as connection:
                    connection.execute(sa.update(table).where(key.in_(acknowledged)).values(exported_at=datetime.now(UTC)))
            exported += len(acknowledged)
            if len(acknowledged) < len(rows):
                return exported  # some were refused: leave them for the next round rather than spin

    def _prediction_doc(self, row: Any) -> dict[str, Any]:
        features = row.features if isinstance(row.features, dict) else json.loads(row.features)
        return {
            "@timestamp": row.created_at.isoformat(),
            "prediction_id": row.id,
            "model_name": row.model_name,
            "model_version": row.model_version,
            "probability": row.probability,
            "churn": row.label,
            "threshold": row.threshold,
            "latency_ms": row.latency_ms,
            "endpoint": row.endpoint,
            "request_id": row.request_id,
            "features": features,
        }

    @staticmethod
    def _feedback_doc(row: Any) -> dict[str, Any]:
        return {
            "@timestamp": row.received_at.isoformat(),
            "feedback_id": row.feedback_id,
            "prediction_id": row.prediction_id,
            "churned": row.churned,
            "request_id": row.request_id,
        }

    @staticmethod
    def _alert_doc(row: Any) -> dict[str, Any]:
        return {
            "@timestamp": row.raised_at.isoformat(),
            "alert_id": row.id,
            "rule": row.rule,
            "metric": row.metric,
            "value": row.value,
            "threshold": row.threshold,
            "window_start": row.window_start.isoformat(),
            "window_end": row.window_end.isoformat(),
            "model_version": row.model_version,
            "monitoring_run_id": row.monitoring_run_id,
            "message": row.message,
        }

    # -- monitoring results --

    def export_monitoring(self, summary: dict[str, Any]) -> int:
        """One document for the run and one per feature's drift; ids derive from the run id (re-sending overwrites)."""
        self.ensure_templates()
        at = datetime.fromisoformat(summary["window"]["end"])
        run_id, version = summary["run_id"], summary["model"]["version"]
        actions = [{"_index": self.index_name("monitoring", at), "_id": run_id, "_source": monitoring_document(summary)}]
        for feature, drift in summary["drift"].get("features", {}).items():
            actions.append(
                {
                    "_index": self.index_name("feature-drift", at),
                    "_id": f"{run_id}-{feature}",
                    "_source": {"@timestamp": at.isoformat(), "run_id": run_id, "model_version": version, "feature": feature, **drift},
                }
            )
        return len(self.bulk(actions))

    def export_all(self, engine: Engine, summary: dict[str, Any]) -> dict[str, Any]:
        """For the end of a monitoring run: never raises, reports what happened instead."""
        try:
            return {"monitoring": self.export_monitoring(summary), **self.export_pending(engine)}
        except (ExportFailed, SQLAlchemyError) as error:
            log.error("Export to Elasticsearch %s failed: %s; the records stay in the store and are exported later", self.url, error)
            return {"error": str(error)}

    # -- transport --

    def bulk(self, actions: list[dict[str, Any]]) -> list[str]:
        """Index `actions`; the ids Elasticsearch acknowledged. 429/5xx and connection errors are retried with backoff."""

        def send() -> list[str]:
            acknowledged = []
            for ok, item in helpers.streaming_bulk(
                self.client,
                actions,
                chunk_size=500,
                max_retries=self.max_retries,
                initial_backoff=INITIAL_BACKOFF,
                max_backoff=MAX_BACKOFF,
                retry_on_status=RETRY_STATUSES,
                raise_on_error=False,
                raise_on_exception=True,
            ):
                result = item.get("index", {})
                if ok:
                    acknowledged.append(str(result.get("_id")))
                else:
                    log.warning("Elasticsearch refused document %s in %s: %s", result.get("_id"), result.get("_index"), result.get("error"))
            return acknowledged

        return self._with_backoff(f"bulk of {len(actions)} documents", send)

    def _with_backoff(self, what: str, call: Callable[[], Any]) -> Any:
        delay = INITIAL_BACKOFF
        for attempt in range(self.max_retries + 1):
            try:
                return call()
            except (TransportConnectionError, ConnectionTimeout) as error:
                reason = f"{type(error).__name__}: {error}"
            except ApiError as error:
                if error.meta.status not in RETRY_STATUSES:
                    raise ExportFailed(f"Elasticsearch {self.url} refused {what}: HTTP {error.meta.status} {error.message}") from None
                reason = f"HTTP {error.meta.status}"
            if attempt == self.max_retries:
                raise ExportFailed(f"Elasticsearch {self.url} did not take {what} after {attempt + 1} attempts ({reason})")
            log.warning("Elasticsearch %s: %s failed (%s); retrying in %.1fs", self.url, what, reason, delay)
            self.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
        raise AssertionError("unreachable")


def monitoring_document(summary: dict[str, Any]) -> dict[str, Any]:
    drift = summary["drift"]
    performance = {key: value for key, value in summary["performance"].items() if key != "reference"}
    performance["reference_roc_auc"] = summary["performance"]["reference"].get("roc_auc")
    return {
        "@timestamp": summary["window"]["end"],
        "window_start": summary["window"]["start"],
        "run_id": summary["run_id"],
        "model_version": summary["model"]["version"],
        "alerts": [alert["rule"] for alert in summary["alerts"]],
        "alert_count": len(summary["alerts"]),
        "drift": {}
        if "skipped" in drift
        else {
            "share_drifted_features": drift["share_drifted_features"],
            "drifted_features": len(drift["drifted_features"]),
            "prediction_score": drift["prediction"]["score"],
            "prediction_psi": drift["prediction"]["psi"],
        },
        "quality": {key: value for key, value in summary["quality"].items() if isinstance(value, int | float)},
        "performance": performance,
        "service": summary["service"],
        "host": {key: value for key, value in summary["host"].items() if key != "disk_path"},
    }


class ExportLoop:
    """The API's background exporter: every few seconds, the store rows not yet in Elasticsearch. Never touches requests."""

    def __init__(self, elasticsearch: ElasticsearchSettings, contract: DatasetContract, engine: Engine) -> None:
        self.exporter = ElasticsearchExporter(elasticsearch, contract)
        self.engine = engine
        self.interval = elasticsearch.export_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="churnops-es-export", daemon=True)
        self.last: dict[str, Any] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if "error" not in self.last:
            self.run_once()  # what the last interval added; skipped while the cluster is down, not to stall shutdown
        self.engine.dispose()

    def run_once(self) -> None:
        try:
            self.last = self.exporter.export_pending(self.engine)
        except (ExportFailed, SQLAlchemyError) as error:
            self.last = {"error": str(error)}
            log.warning("Export to Elasticsearch %s failed: %s; retrying in %.0fs", self.exporter.url, error, self.interval)
        except Exception:
            log.exception("Export to Elasticsearch hit an unexpected error; it carries on")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()
