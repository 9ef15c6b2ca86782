"""The endpoints a front end needs besides /predict: GET /contract, POST /explain, POST /admin/promote, POST /admin/rollback.

A real `churnops serve` process over real HTTP, with the trained registry's private copy (versions 1 and 2, champion 2).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from churnops.data.contract import DatasetContract, load_contract
from churnops.settings import Settings
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings
from tests.support.traffic import valid_customers
from tests.support.waiting import wait_until

API_KEY = "ui-admin-key-5c1d"
ADMIN = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def server(trained_registry: TrainedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    folder = tmp_path_factory.mktemp("ui-api")
    settings = api_settings(trained_registry, folder, api_key=API_KEY)
    with churnops_api(settings, folder / "api.log") as url:
        yield url, settings


@pytest.fixture(scope="module")
def client(server: tuple[str, Settings]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def customers(synthetic_csv: Path, contract: DatasetContract) -> list[dict[str, Any]]:
    return valid_customers(synthetic_csv, contract, 10)


def stored_predictions(settings: Settings, prediction_id: str | None = None) -> int:
    engine = sa.create_engine(settings.store.url)
    try:
        with engine.connect() as connection:
            if prediction_id is None:
                return int(connection.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar_one())
            query = sa.text("SELECT COUNT(*) FROM predictions WHERE id = :id")
            return int(connection.execute(query, {"id": prediction_id}).scalar_one())
    finally:
        engine.dispose()


def stored_after_sentinel(client: httpx.Client, settings: Settings, customer: dict[str, Any]) -> int:
    """Predictions in the store once a new /predict is stored (the store writes in order: every earlier record is in by then)."""
    answer = client.post("/predict", json={**customer, "customerID": f"sentinel-{uuid.uuid4().hex}"})
    assert answer.status_code == 200, answer.text
    wait_until(lambda: stored_predictions(settings, answer.json()["prediction_id"]) == 1, 15, "the sentinel prediction was not stored")
    return stored_predictions(settings)


def predictions_counted(client: httpx.Client) -> float:
    found = re.search(r"^churnops_prediction_probability_count (\S+)$", client.get("/metrics").text, re.MULTILINE)
    assert found, "no prediction histogram in /metrics"
    return float(found.group(1))


def test_contract_round_trips_and_its_example_is_a_valid_customer(client: httpx.Client, contract: DatasetContract) -> None:
    response = client.get("/contract")
    assert response.status_code == 200, response.text
    body = response.json()
    assert DatasetContract.model_validate(body["contract"]) == contract  # the served one: the tests' api_settings fix it (--dataset)
    example = body["example"]
    assert set(contract.feature_columns) <= set(example)
    assert client.get("/openapi.json").json()["components"]["schemas"]["Customer"]["examples"][0] == example
    assert client.post("/predict", json=example).status_code == 200


def test_explain_scores_as_predict_and_splits_the_probability_by_feature(
    client: httpx.Client, customers: list[dict[str, Any]], contract: DatasetContract
) -> None:
    example = client.get("/contract").json()["example"]
    for customer in customers[:5]:
        predicted = client.post("/predict", json=customer).json()
        response = client.post("/explain", json=customer)
        assert response.status_code == 200, response.text
        explained = response.json()
        assert abs(explained["churn_probability"] - predicted["churn_probability"]) < 1e-9
        for key in ("churn", "label", "threshold", "model_name", "model_version"):
            assert explained[key] == predicted[key], key
        rows = explained["contributions"]
        assert sorted(row["feature"] for row in rows) == sorted(contract.feature_columns)
        for row in rows:
            assert row["value"] == customer[row["feature"]]
            assert row["reference"] == example[row["feature"]]
            assert abs(row["effect"] - (explained["churn_probability"] - row["probability_at_reference"])) < 1e-12
            if row["value"] == row["reference"]:
                assert row["effect"] == 0 and row["probability_at_reference"] == explained["churn_probability"]
        effects = [abs(row["effect"]) for row in rows]
        assert effects == sorted(effects, reverse=True)
        assert effects[0] > 0, "a real model's probability moves with some feature"


def test_explain_what_if_the_strongest_feature_were_typical(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    explained = client.post("/explain", json=customers[0]).json()
    strongest = explained["contributions"][0]
    typical = client.post("/explain", json={**customers[0], strongest["feature"]: strongest["reference"]}).json()
    assert abs(typical["churn_probability"] - strongest["probability_at_reference"]) < 1e-9
    row = next(row for row in typical["contributions"] if row["feature"] == strongest["feature"])
    assert row["effect"] == 0 and row["value"] == row["reference"]


def test_explain_stores_and_counts_nothing(client: httpx.Client, server: tuple[str, Settings], customers: list[dict[str, Any]]) -> None:
    settings = server[1]
    before = stored_after_sentinel(client, settings, customers[0])
    wait_until(lambda: logged_requests(settings.store.url).get("/predict", 0) > 0, 30, "the request log was not flushed")
    logged_before = logged_requests(settings.store.url)
    counted = predictions_counted(client)
    for customer in customers:
        assert client.post("/explain", json=customer).status_code == 200
    assert predictions_counted(client) == counted
    assert stored_after_sentinel(client, settings, customers[0]) == before + 1  # the sentinel only
    # Nor in the request log monitoring reads: once the second sentinel's /predict is logged, the /explain calls before it would be.
    expected = logged_before["/predict"] + 1
    wait_until(lambda: logged_requests(settings.store.url).get("/predict", 0) >= expected, 30, "the request log was not flushed")
    assert logged_requests(settings.store.url).get("/explain", 0) == logged_before.get("/explain", 0) == 0


def logged_requests(store_url: str) -> dict[str, int]:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            return {str(row[0]): int(row[1]) for row in connection.execute(sa.text("SELECT endpoint, COUNT(*) FROM requests GROUP BY endpoint"))}
    finally:
        engine.dispose()


def test_explain_validates_like_predict(client: httpx.Client, customers: list[dict[str, Any]]) -> None:
    response = client.post("/explain", json={**customers[0], "Contract": "Weekly"})
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == ["Contract"]
    assert client.post("/explain", json={**customers[0], "unknown": 1}).status_code == 422


def test_promote_and_rollback_move_the_served_version(trained_registry: TrainedRegistry, tmp_path: Path) -> None:
    older, newer = trained_registry.versions
    settings = api_settings(trained_registry, tmp_path, api_key=API_KEY)
    with churnops_api(settings, tmp_path / "api.log") as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/admin/promote", json={"version": older}).status_code == 401
        assert client.post("/admin/rollback", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/model").json()["version"] == newer

        promoted = client.post("/admin/promote", json={"version": int(older), "reason": "ui test"}, headers=ADMIN)
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["changed"] is True and promoted.json()["model"]["version"] == older
        assert client.get("/model").json()["version"] == older

        rolled = client.post("/admin/rollback", headers=ADMIN)
        assert rolled.status_code == 200, rolled.text
        assert (rolled.json()["from_version"], rolled.json()["to_version"], rolled.json()["model"]["version"]) == (older, newer, newer)
        assert client.get("/model").json()["version"] == newer

        unknown = client.post("/admin/promote", json={"version": "99"}, headers=ADMIN)
        assert unknown.status_code == 404
        assert "no version 99" in unknown.json()["detail"] and "churnops versions" in unknown.json()["detail"]
        assert client.post("/admin/promote", json={"version": "v1"}, headers=ADMIN).status_code == 422
        assert client.post("/admin/promote", json={"version": 1, "extra": True}, headers=ADMIN).status_code == 422

        assert client.post("/admin/rollback", headers=ADMIN).json()["to_version"] == older  # history: 1, 2 -> 1
        empty = client.post("/admin/rollback", headers=ADMIN)
        assert empty.status_code == 409
        assert "no previous champion" in empty.json()["detail"]
        assert client.get("/model").json()["version"] == older


def test_without_a_model_contract_is_the_built_in_one_explain_503_and_admin_disabled(
    tmp_path: Path, synthetic_csv: Path, contract: DatasetContract
) -> None:
    settings = api_settings(None, tmp_path, dataset=None)  # no key: admin off; no --dataset: the built-in contract
    with churnops_api(settings, tmp_path / "api.log") as url, httpx.Client(base_url=url, timeout=30) as client:
        body = client.get("/contract").json()
        assert DatasetContract.model_validate(body["contract"]) == load_contract(None)
        explained = client.post("/explain", json=valid_customers(synthetic_csv, contract, 1)[0])
        assert explained.status_code == 503 and "churnops pipeline" in explained.json()["detail"]
        for path, payload in (("/admin/promote", {"version": 1}), ("/admin/rollback", None)):
            refused = client.post(path, json=payload, headers={"X-API-Key": "anything"})
            assert refused.status_code == 403 and "CHURNOPS_API_KEY" in refused.json()["detail"], path
