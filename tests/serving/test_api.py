"""The prediction API as a real `churnops serve` process over real HTTP, with a real trained model."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from websockets.sync.client import connect as websocket_connect

from churnops.data.contract import DatasetContract
from churnops.data.loading import to_model_frame
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings
from tests.support.traffic import valid_customers

API_KEY = "test-admin-key-7f3a"


@pytest.fixture(scope="module")
def server(trained_registry: TrainedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("api")
    settings = api_settings(trained_registry, folder, api_key=API_KEY, max_batch_size=50, gate_tolerance=1.0)
    log = folder / "api.log"
    with churnops_api(settings, log) as url:
        yield url, log


@pytest.fixture(scope="module")
def client(server: tuple[str, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def customers(synthetic_csv: Path, contract: DatasetContract) -> list[dict[str, Any]]:
    return valid_customers(synthetic_csv, contract, 40)


def test_predict_answers_with_the_champion_at_its_threshold(
    client: httpx.Client, customers: list[dict[str, Any]], trained_registry: TrainedRegistry
) -> None:
    response = client.post("/predict", json={**customers[0], "customerID": "C-1"}, headers={"X-Request-ID": "req-abc"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == trained_registry.champion
    assert body["model_name"] == "churn-classifier"
    assert 0 <= body["churn_probability"] <= 1
    assert body["churn"] == (body["churn_probability"] >= body["threshold"])
    assert body["label"] == ("Yes" if body["churn"] else "No")
    assert body["customer_id"] == "C-1"
    assert len(body["prediction_id"]) == 32
    assert response.headers["x-request-id"] == "req-abc"


def test_predictions_differ_by_customer_and_match_batch(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    singles = [client.post("/predict", json=customer).json()["churn_probability"] for customer in customers[:10]]
    batch = client.post("/predict/batch", json={"customers": customers[:10]})
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert body["count"] == 10
    assert np.allclose([row["churn_probability"] for row in body["predictions"]], singles, atol=1e-12)
    assert len(set(np.round(singles, 6))) > 5, "a real model gives different customers different probabilities"
    assert len({row["prediction_id"] for row in body["predictions"]}) == 10


def test_concurrent_single_predictions_are_each_answered_and_stored_with_their_own_request(
    client: httpx.Client, server: tuple[str, Path], customers: list[dict[str, Any]]
) -> None:
    """Single customers sent at once are scored as one group (serving/coalescing.py): each still gets its own
    answer, and its own row in the store, under its own request id."""
    sent = {f"together-{index}": {**customer, "customerID": f"C-together-{index}"} for index, customer in enumerate(customers[:16])}
    expected = client.post("/predict/batch", json={"customers": list(sent.values())}).json()["predictions"]

    def send(request: str) -> httpx.Response:
        return client.post("/predict", json=sent[request], headers={"X-Request-ID": request})

    with ThreadPoolExecutor(len(sent)) as pool:
        answers = dict(zip(sent, pool.map(send, sent), strict=True))
    assert {answer.status_code for answer in answers.values()} == {200}
    for (request, answer), batch_row in zip(answers.items(), expected, strict=True):
        body = answer.json()
        assert answer.headers["x-request-id"] == request
        assert body["customer_id"] == sent[request]["customerID"]
        assert body["churn_probability"] == pytest.approx(batch_row["churn_probability"], abs=1e-12)

    stored = _stored_predictions(server[1].parent / "predictions.db", "together-%", len(sent))
    assert set(stored) == set(sent), "one stored prediction per request"
    for request, answer in answers.items():
        prediction_id, probability, features = stored[request]
        assert prediction_id == answer.json()["prediction_id"]
        assert probability == answer.json()["churn_probability"]
        assert features["customerID"] == sent[request]["customerID"] and features["tenure"] == sent[request]["tenure"]


def _stored_predictions(database: Path, request_pattern: str, expected: int) -> dict[str, tuple[str, float, dict[str, Any]]]:
    """request id -> (prediction id, probability, features) once the writer has stored `expected` of them (or after 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        with sqlite3.connect(database) as connection:
            rows = connection.execute(
                "SELECT request_id, id, probability, features FROM predictions WHERE request_id LIKE ?", (request_pattern,)
            ).fetchall()
        if len(rows) >= expected or time.monotonic() > deadline:
            assert len(rows) == len({row[0] for row in rows}), "a request's prediction was stored twice"
            return {request: (key, probability, json.loads(features)) for request, key, probability, features in rows}
        time.sleep(0.1)


def test_invalid_customer_gets_422_naming_each_field_and_allowed_values(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    bad = {**customers[0], "Contract": "Three year", "tenure": -4, "MonthlyCharges": "lots"}
    bad.pop("gender")
    response = client.post("/predict", json=bad)
    assert response.status_code == 422
    problems = {error["loc"][-1]: error["msg"] for error in response.json()["detail"]}
    assert set(problems) == {"Contract", "tenure", "MonthlyCharges", "gender"}
    assert "'Month-to-month', 'One year' or 'Two year'" in problems["Contract"]
    assert "greater than or equal to 0" in problems["tenure"]
    assert problems["gender"] == "Field required"


def test_batch_limit_is_enforced(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    response = client.post("/predict/batch", json={"customers": (customers * 3)[:51]})
    assert response.status_code == 422
    assert "at most 50" in response.text
    assert client.post("/predict/batch", json={"customers": []}).status_code == 422


def test_invocations_match_mlflow_pyfunc_in_every_payload_format(
    client: httpx.Client, customers: list[dict[str, Any]], trained_registry: TrainedRegistry, contract: DatasetContract
) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{trained_registry.folder / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{trained_registry.folder / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model(f"models:/churn-classifier/{trained_registry.champion}")
    rows = customers[:8]
    expected_frame = model.predict(to_model_frame(pd.DataFrame(rows), contract))
    expected = expected_frame["churn_probability"].to_numpy()

    def probabilities(response: Any) -> np.ndarray:
        answered = response.json()["predictions"]
        assert [row["churn"] for row in answered] == expected_frame["churn"].tolist()
        return np.array([row["churn_probability"] for row in answered])

    frame = pd.DataFrame(rows)
    payloads = {
        "dataframe_split": {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))},
        "dataframe_records": {"dataframe_records": rows},
        "inputs": {"inputs": rows},
        "inputs as columns": {"inputs": {column: frame[column].tolist() for column in frame.columns}},
    }
    for name, payload in payloads.items():
        response = client.post("/invocations", json=payload)
        assert response.status_code == 200, (name, response.text)
        assert np.allclose(probabilities(response), expected, atol=1e-5), name
    csv = client.post("/invocations", content=frame.to_csv(index=False), headers={"Content-Type": "text/csv"})
    assert csv.status_code == 200, csv.text
    assert np.allclose(probabilities(csv), expected, atol=1e-5)


def test_invocations_bad_payloads_get_400_with_mlflow_error_shape(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    cases = {
        "not json": (b"{nope", "not valid JSON"),
        "no known key": (json.dumps({"rows": []}).encode(), "Expected exactly one of"),
        "bad value": (json.dumps({"dataframe_records": [{**customers[0], "Contract": "Weekly"}]}).encode(), "row 0, column 'Contract'"),
        "ragged split": (json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}).encode(), "row 0 must be a list of 2 values"),
    }
    for name, (body, expected) in cases.items():
        response = client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, name
        assert response.json()["error_code"] == "BAD_REQUEST"
        assert expected in response.json()["message"], (name, response.json())


def test_websocket_answers_each_message(server: tuple[str, Path], customers: list[dict[str, Any]]) -> None:
    with websocket_connect(server[0].replace("http", "ws") + "/ws/predict") as socket:
        for customer in customers[:3]:
            socket.send(json.dumps(customer))
            answer = json.loads(socket.recv(timeout=10))
            assert 0 <= answer["churn_probability"] <= 1
            assert len(answer["prediction_id"]) == 32
        socket.send(json.dumps({**customers[0], "Contract": "Weekly"}))
        error = json.loads(socket.recv(timeout=10))
        assert error["error"] == "invalid customer"
        assert error["detail"][0]["loc"] == ["Contract"]
        socket.send(json.dumps(customers[1]))  # the socket stays usable after a bad message
        assert "churn_probability" in json.loads(socket.recv(timeout=10))


def test_model_endpoint_describes_the_served_version(client: httpx.Client, trained_registry: TrainedRegistry) -> None:
    body = client.get("/model").json()
    assert body["version"] == trained_registry.champion
    assert body["alias"] == "champion"
    assert body["inference"] == "onnx"
    assert body["family"] == "logistic_regression"
    assert 0.5 < body["metrics"]["roc_auc"] <= 1
    assert 0 < body["threshold"] < 1
    assert len(body["data_fingerprint"]) == 64
    assert body["run_id"] and body["trained_at"] and body["registered_at"]


def test_health_ready_and_prometheus_metrics(client: httpx.Client, customers: list[dict[str, Any]], trained_registry: TrainedRegistry) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["store"] == "ok"
    client.post("/predict", json=customers[0])
    text = client.get("/metrics").text
    assert 'churnops_requests_total{endpoint="/predict",method="POST",status="200"}' in text
    assert "churnops_request_latency_seconds_bucket" in text
    assert 'churnops_predictions_total{label="' in text
    assert "churnops_prediction_probability_count" in text
    assert f'churnops_model_version{{inference="onnx",model_name="churn-classifier"}} {float(trained_registry.champion)}' in text
    assert "churnops_store_queue_depth" in text


def test_feedback_is_accepted_for_known_predictions_only(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    prediction = client.post("/predict", json=customers[2]).json()
    accepted = client.post("/feedback", json={"prediction_id": prediction["prediction_id"], "churned": True})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"prediction_id": prediction["prediction_id"], "churned": True, "status": "recorded"}
    unknown = client.post("/feedback", json={"prediction_id": "0" * 32, "churned": False})
    assert unknown.status_code == 404 and "No prediction with id" in unknown.json()["detail"]
    assert client.post("/feedback", json={"prediction_id": "not-an-id", "churned": False}).status_code == 422


def test_logs_are_json_lines_carrying_the_request_id(client: httpx.Client, server: tuple[str, Path], customers: list[dict[str, Any]]) -> None:
    client.post("/predict", json=customers[0], headers={"X-Request-ID": "trace-me-42"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in server[1].read_text().splitlines() if line.startswith("{")]
        mine = [line for line in lines if line.get("request_id") == "trace-me-42"]
        if mine:
            break
        time.sleep(0.1)
    assert mine, "no log line carries the request id"
    others = [line for line in server[1].read_text().splitlines() if line.strip() and not line.startswith("{")]
    assert others == [], "every log line is a JSON object"
    assert mine[0]["path"] == "/predict" and mine[0]["status"] == 200 and "duration_ms" in mine[0]


def test_openapi_documents_every_endpoint_with_a_valid_example(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert {
        "/predict",
        "/predict/batch",
        "/invocations",
        "/model",
        "/health",
        "/ready",
        "/metrics",
        "/feedback",
        "/admin/reload",
        "/admin/retrain",
        "/admin/jobs/{job_id}",
    } <= set(schema["paths"])
    customer = schema["components"]["schemas"]["Customer"]
    assert all(field.get("description") and field.get("examples") for field in customer["properties"].values())
    example = customer["examples"][0]
    assert client.post("/predict", json=example).status_code == 200, "the documented example must be valid"
    batch_schema = schema["paths"]["/predict/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert batch_schema["properties"]["customers"]["items"] == {"$ref": "#/components/schemas/Customer"}
    assert client.post("/predict/batch", json=batch_schema["examples"][0]).status_code == 200
    for name, sample in schema["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]["examples"].items():
        assert client.post("/invocations", json=sample["value"]).status_code == 200, name
    assert "Contract" in customer["properties"] and customer["properties"]["Contract"]["enum"] == ["Month-to-month", "One year", "Two year"]


def test_admin_needs_the_key(client: httpx.Client) -> None:
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/admin/jobs/abc", headers={"X-API-Key": API_KEY[:-1]}).status_code == 401
    reloaded = client.post("/admin/reload", headers={"X-API-Key": API_KEY})
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["changed"] is False
    assert client.get("/admin/jobs/abc", headers={"X-API-Key": API_KEY}).status_code == 404


def test_admin_is_disabled_without_a_configured_key(trained_registry: TrainedRegistry, tmp_path: Path) -> None:
    settings = api_settings(trained_registry, tmp_path)
    with churnops_api(settings, tmp_path / "api.log") as url:
        response = httpx.post(url + "/admin/reload", headers={"X-API-Key": "anything"})
        assert response.status_code == 403
        assert "CHURNOPS_API_KEY" in response.json()["detail"]


@pytest.mark.slow
def test_retrain_job_registers_a_version_that_the_service_then_serves(client: httpx.Client) -> None:
    """Runs last in this module: the pipeline registers a new version and the gate (tolerance 1.0) promotes it."""
    headers = {"X-API-Key": API_KEY}
    before = client.get("/model").json()["version"]
    started = client.post("/admin/retrain", json={"trials": 1}, headers=headers)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert client.post("/admin/retrain", headers=headers).status_code == 409
    deadline = time.monotonic() + 300
    while (job := client.get(f"/admin/jobs/{job_id}", headers=headers).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(1)
    assert job["status"] == "succeeded", job
    assert job["version"] == str(int(before) + 1) and job["promoted"] is True
    assert client.get("/model").json()["version"] == job["version"], "the service swaps to the promoted version"
