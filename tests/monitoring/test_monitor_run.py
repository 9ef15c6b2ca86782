"""`churnops monitor` as a real process: a window of stored traffic against the Telco champion.

Checks what lands where: the JSON summary, the MLflow run (metrics at the window's end time,
report and summary artifacts, alert tags), the store's monitoring and alert rows, a webhook
(a local HTTP receiver) and e-mail (an aiosmtpd server process).
"""

from __future__ import annotations

import json
import mailbox
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient

from churnops.data.contract import load_contract
from churnops.data.loading import Dataset
from churnops.model.churn_model import load_logged_pipeline
from churnops.settings import Settings
from churnops.store import ALERTS, MONITORING_RUNS, PredictionStore, RequestRecord
from tests.support.cli import monitor
from tests.support.paths import CONTRACT_PATH
from tests.support.registries import TelcoRegistry
from tests.support.servers import free_port
from tests.support.settings import monitor_settings
from tests.support.traffic import customers, store_predictions
from tests.support.waiting import wait_until


def fill_store(settings: Settings, telco: Dataset, telco_registry: TelcoRegistry, count: int, drifted: bool, errors: int = 0) -> list[float]:
    """Champion-scored traffic with feedback over the last hour, and request log rows; returns the latencies logged."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)  # an earlier test may have pointed the registry elsewhere
    model = load_logged_pipeline(f"models:/{settings.model_name}/{telco_registry.result.version}")
    frame, truth = customers(telco, count, seed=11 if drifted else 12, drifted=drifted)
    store = PredictionStore(settings.store.url, settings.store.spool_dir)
    store.start()
    start = datetime.now(UTC) - timedelta(hours=1)
    store_predictions(
        store,
        load_contract(CONTRACT_PATH),
        frame,
        model.predict_proba(frame)[:, 1],
        telco_registry.result.threshold,
        "1",
        start,
        timedelta(minutes=50),
        truth,
    )
    latencies = list(np.random.default_rng(1).gamma(2.0, 3.0, 400))
    store.record_requests(
        [
            RequestRecord(f"r{index:031d}", start + timedelta(seconds=index), "/predict", "POST", 500 if index < errors else 200, latency, None)
            for index, latency in enumerate(latencies)
        ]
    )
    store.close()
    assert store.spooled_records == 0
    return latencies


@pytest.fixture()
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture()
def smtp_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """aiosmtpd as its own process, delivering into a Maildir."""
    port, maildir = free_port(), tmp_path / "maildir"
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, 30, "aiosmtpd did not start")
        yield port, maildir
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_quiet_window_is_measured_and_logged_without_alerts(telco_registry: TelcoRegistry, telco: Dataset, tmp_path: Path) -> None:
    settings = monitor_settings(telco_registry, tmp_path)
    latencies = fill_store(settings, telco, telco_registry, 2000, drifted=False)

    result = monitor(settings, "--window", "1d", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)

    assert summary["alerts"] == [] and summary["retraining"] is None
    assert summary["drift"]["share_drifted_features"] < settings.alerts.drift_share
    quality = summary["quality"]
    assert quality["rows"] == 2000 and quality["out_of_range_share"] == 0.0 and quality["unseen_category_share"] == 0.0
    assert set(quality["missing_by_feature"]) <= {"TotalCharges"}  # the only nullable column
    performance = summary["performance"]
    assert performance["labelled"] == 2000
    assert abs(performance["roc_auc"] - telco_registry.result.test_metrics["roc_auc"]) < 0.06
    assert performance["reference"]["roc_auc"] == pytest.approx(telco_registry.result.test_metrics["roc_auc"], abs=1e-5)
    service = summary["service"]
    assert service["requests"] == 400 and service["errors"] == 0 and service["predictions"] == 2000
    for q in (50, 95, 99):
        assert service[f"latency_p{q}_ms"] == pytest.approx(float(np.percentile(latencies, q)))
    assert 0 <= summary["host"]["cpu_percent"] <= 100 and 0 < summary["host"]["memory_percent"] < 100

    client = MlflowClient(settings.tracking_uri)
    run = client.get_run(summary["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "churn-monitoring"
    assert run.data.tags["churnops.kind"] == "monitoring" and run.data.tags["alerts"] == "none"
    window_end_ms = int(datetime.fromisoformat(summary["window"]["end"]).timestamp() * 1000)
    for key in ("drift/share_drifted_features", "drift/psi/Contract", "performance/roc_auc", "service/latency_p99_ms", "host/memory_percent"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [metric.timestamp for metric in history] == [window_end_ms], key
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"drift_report.html", "summary.json"} <= artifacts
    assert (Path(summary["report_dir"]) / "drift_report.html").stat().st_size > 10_000

    engine = sa.create_engine(settings.store.url)
    with engine.connect() as connection:
        row = connection.execute(sa.select(MONITORING_RUNS)).one()
        assert row.run_id == summary["run_id"] and row.predictions == 2000 and row.alerts == 0
        assert connection.execute(sa.select(sa.func.count()).select_from(ALERTS)).scalar_one() == 0
    engine.dispose()


def test_a_drifted_window_raises_alerts_everywhere(
    telco_registry: TelcoRegistry, telco: Dataset, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]], smtp_server: tuple[int, Path]
) -> None:
    hook_url, received = webhook
    smtp_port, maildir = smtp_server
    settings = monitor_settings(
        telco_registry, tmp_path, alert_webhook_url=hook_url, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_recipients=["oncall@example.com"]
    )
    fill_store(settings, telco, telco_registry, 2000, drifted=True, errors=40)  # 10% of requests fail

    result = monitor(settings, "--window", "1d", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rules = {alert["rule"] for alert in summary["alerts"]}
    assert {"data_drift", "prediction_drift", "error_rate"} <= rules
    assert "latency" not in rules  # p99 of the logged latencies is far below 500 ms
    assert summary["notifications"] == {"log": "sent", "webhook": "sent", "email": "sent"}
    assert "ALERT data_drift" in result.stderr  # the log channel

    run = MlflowClient(settings.tracking_uri).get_run(summary["run_id"])
    assert set(run.data.tags["alerts"].split(",")) == rules
    assert "share of drifted features" in run.data.tags["alert.data_drift"]

    engine = sa.create_engine(settings.store.url)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(ALERTS.c.rule, ALERTS.c.monitoring_run_id, ALERTS.c.value, ALERTS.c.threshold)).all()
    engine.dispose()
    assert {row.rule for row in stored} == rules and {row.monitoring_run_id for row in stored} == {summary["run_id"]}
    drift_row = next(row for row in stored if row.rule == "data_drift")
    assert drift_row.value >= drift_row.threshold == settings.alerts.drift_share

    assert len(received) == 1 and {alert["rule"] for alert in received[0]["alerts"]} == rules
    messages = list(mailbox.Maildir(maildir))
    assert len(messages) == 1 and "data_drift" in messages[0]["Subject"] and messages[0]["To"] == "oncall@example.com"


def test_an_empty_window_is_reported_not_tested(telco_registry: TelcoRegistry, tmp_path: Path) -> None:
    settings = monitor_settings(telco_registry, tmp_path)
    result = monitor(settings, "--window", "6h", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert "skipped" in summary["drift"] and summary["alerts"] == []
    assert summary["performance"]["labelled"] == 0 and summary["service"]["requests"] == 0


def test_bad_input_gets_a_clear_error(telco_registry: TelcoRegistry, tmp_path: Path) -> None:
    settings = monitor_settings(telco_registry, tmp_path)
    bad_window = monitor(settings, "--window", "yesterday")
    assert bad_window.returncode == 1 and "Use a number and a unit" in bad_window.stderr and "Traceback" not in bad_window.stderr
    no_model = monitor(settings.model_copy(update={"model_name": "no-such-model"}), "--window", "1d")
    assert no_model.returncode == 1 and "has no @champion version" in no_model.stderr and "Traceback" not in no_model.stderr


def test_training_runs_log_system_metrics(telco_registry: TelcoRegistry) -> None:
    client = MlflowClient(f"sqlite:///{telco_registry.registry.folder / 'mlflow.db'}")
    metrics = client.get_run(telco_registry.result.training_run_id).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(metrics)
