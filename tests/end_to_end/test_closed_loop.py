"""The whole loop, every step a real process: serve the champion, quiet traffic (no alert), drifted
traffic with feedback (drift alert), automatic retraining registers a challenger, the gate decides,
and the API follows the champion alias if it moved."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from mlflow import MlflowClient

from churnops.data.contract import DatasetContract
from churnops.data.loading import Dataset
from churnops.registry import CHALLENGER, CHAMPION
from tests.support.cli import monitor
from tests.support.registries import TelcoRegistry
from tests.support.servers import churnops_api
from tests.support.settings import monitor_settings
from tests.support.traffic import as_requests, customers
from tests.support.waiting import wait_until

CUSTOMERS = 600


def send(client: httpx.Client, frame_requests: list[dict], truth: list[int]) -> None:
    """Batch predictions, then the true outcome of each as feedback."""
    for start in range(0, len(frame_requests), 200):
        answer = client.post("/predict/batch", json={"customers": frame_requests[start : start + 200]})
        assert answer.status_code == 200, answer.text
        for row, prediction in enumerate(answer.json()["predictions"]):
            feedback = client.post("/feedback", json={"prediction_id": prediction["prediction_id"], "churned": bool(truth[start + row])})
            assert feedback.status_code in (200, 201, 202), feedback.text


def test_drift_alert_retrains_through_the_gate_and_the_api_follows(
    telco_registry: TelcoRegistry, telco: Dataset, contract: DatasetContract, telco_csv: Path, tmp_path: Path
) -> None:
    settings = monitor_settings(
        telco_registry,
        tmp_path,
        data=str(telco_csv),
        auto_retrain=True,
        families=["logistic_regression"],
        search_trials=2,
        store_flush_seconds=0.05,
    )
    client_registry = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    assert str(client_registry.get_model_version_by_alias(settings.model_name, CHAMPION).version) == "1"

    with churnops_api(settings, tmp_path / "api.log") as api, httpx.Client(base_url=api, timeout=30) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, 60, "API not ready")

        quiet, quiet_truth = customers(telco, CUSTOMERS, seed=21)
        send(client, as_requests(quiet, contract), quiet_truth.tolist())
        time.sleep(1)  # the store's writer flushes every 50 ms
        first = monitor(settings, "--window", "1h", "--json")
        assert first.returncode == 0, first.stderr
        first_summary = json.loads(first.stdout)
        assert first_summary["quality"]["rows"] == CUSTOMERS and first_summary["performance"]["labelled"] == CUSTOMERS
        assert first_summary["alerts"] == [] and first_summary["retraining"] is None
        # The API's request log: 3 batch calls and 600 feedback calls (probes like /ready are not logged).
        service = first_summary["service"]
        assert service["requests"] == CUSTOMERS // 200 + CUSTOMERS and service["errors"] == 0 and service["latency_p50_ms"] > 0

        drift_started = time.time()
        drifted, drifted_truth = customers(telco, CUSTOMERS, seed=22, drifted=True)
        send(client, as_requests(drifted, contract), drifted_truth.tolist())
        time.sleep(1)
        window = f"{int(time.time() - drift_started) + 1}s"  # the drifted traffic only
        end = datetime.now(UTC).isoformat()
        second = monitor(settings, "--window", window, "--end", end, "--json")
        assert second.returncode == 0, second.stderr
        summary = json.loads(second.stdout)
        assert summary["quality"]["rows"] == CUSTOMERS
        rules = {alert["rule"] for alert in summary["alerts"]}
        assert "data_drift" in rules, summary["drift"]

        retraining = summary["retraining"]
        assert retraining is not None and retraining["version"] == "2"
        assert retraining["labelled_rows_added"] == CUSTOMERS
        assert str(client_registry.get_model_version_by_alias(settings.model_name, CHALLENGER).version) == "2"
        new_version = client_registry.get_model_version(settings.model_name, "2")
        assert new_version.tags["gate_decision"] == ("promote" if retraining["promoted"] else "reject")
        champion = str(client_registry.get_model_version_by_alias(settings.model_name, CHAMPION).version)
        if retraining["promoted"]:
            assert champion == "2"
            wait_until(lambda: client.get("/model").json()["version"] == "2", 30, "the API did not swap to the new champion")
        else:
            assert champion == "1"
            assert client.get("/model").json()["version"] == "1"
        run = client_registry.get_run(summary["run_id"])
        assert run.data.tags["retrain.version"] == "2" and run.data.tags["retrain.promoted"] == str(retraining["promoted"]).lower()
