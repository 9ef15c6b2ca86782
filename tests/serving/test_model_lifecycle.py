"""The service follows the registry: no champion yet, unreachable tracking server, alias moves under load."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import mlflow.sklearn
import pandas as pd
from mlflow.tracking import MlflowClient

from churnops import registry
from churnops.data.contract import DatasetContract
from churnops.data.loading import to_model_frame
from churnops.model.churn_model import load_logged_pipeline
from churnops.training.pipeline import run_pipeline
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api, free_port
from tests.support.settings import api_settings, fast_settings
from tests.support.traffic import valid_customers
from tests.support.waiting import wait_until


def test_starts_without_a_champion_answers_503_and_picks_one_up(tmp_path: Path, synthetic_csv: Path, contract: DatasetContract) -> None:
    settings = api_settings(None, tmp_path)
    customer = valid_customers(synthetic_csv, contract, 1)[0]
    with churnops_api(settings, tmp_path / "api.log") as url:
        assert httpx.get(url + "/health").status_code == 200
        ready = httpx.get(url + "/ready")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert any("has no 'champion' version" in reason for reason in ready.json()["reasons"])
        refused = httpx.post(url + "/predict", json=customer)
        assert refused.status_code == 503
        assert "Run `churnops pipeline`" in refused.json()["detail"]
        assert httpx.get(url + "/model").status_code == 503

        trained = fast_settings(tmp_path, tracking_uri=settings.tracking_uri, families=["logistic_regression"], search_trials=1)
        assert run_pipeline(trained).promoted
        wait_until(lambda: httpx.get(url + "/ready").status_code == 200, 30, "the service never loaded the new champion")
        answer = httpx.post(url + "/predict", json=customer)
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"


def test_unreachable_tracking_server_is_reported_not_fatal(tmp_path: Path, synthetic_csv: Path, contract: DatasetContract) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    settings = api_settings(None, tmp_path, tracking_uri=down)
    with churnops_api(settings, tmp_path / "api.log") as url:
        ready = httpx.get(url + "/ready")
        assert ready.status_code == 503
        assert any(f"MLflow tracking server {down} is not reachable" in reason for reason in ready.json()["reasons"])
        refused = httpx.post(url + "/predict", json=valid_customers(synthetic_csv, contract, 1)[0])
        assert refused.status_code == 503 and "not reachable" in refused.json()["detail"]


def test_hot_swap_on_alias_move_under_concurrent_requests_fails_nothing(
    trained_registry: TrainedRegistry, tmp_path: Path, synthetic_csv: Path, contract: DatasetContract
) -> None:
    settings = api_settings(trained_registry, tmp_path)
    customers = valid_customers(synthetic_csv, contract, 20)
    newer, older = trained_registry.versions[1], trained_registry.versions[0]
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def send_requests(url: str, offset: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            sent = offset
            while not stop.is_set():
                try:
                    response = client.post("/predict", json=customers[sent % len(customers)])
                except httpx.HTTPError as error:
                    failures.append(repr(error))
                    continue
                finally:
                    sent += 1
                if response.status_code == 200:
                    seen.append(response.json()["model_version"])
                else:
                    failures.append(f"{response.status_code}: {response.text}")

    with churnops_api(settings, tmp_path / "api.log") as url:
        workers = [threading.Thread(target=send_requests, args=(url, offset)) for offset in range(4)]
        for worker in workers:
            worker.start()
        try:
            wait_until(lambda: len(seen) > 50, 30, "no traffic")
            assert set(seen) == {newer}
            client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
            assert registry.rollback(client, settings.model_name) == (newer, older)
            wait_until(lambda: seen[-1] == older, 30, "the service did not follow the rollback")
            served_older = seen.count(older)
            wait_until(lambda: seen.count(older) > served_older + 50, 30, "traffic stopped after the swap")
            registry.set_champion(client, settings.model_name, newer, ["test: promote again"])
            wait_until(lambda: seen[-1] == newer, 30, "the service did not follow the promotion")
            time.sleep(0.5)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert httpx.get(url + "/model").json()["version"] == newer
    assert failures == []
    assert seen.count(older) > 50 and seen.count(newer) > 100
    # Versions change at most twice in the order served (the swap is one assignment; 4 clients may overlap by a request each).
    changes = sum(1 for before, after in zip(seen, seen[1:], strict=False) if before != after)
    assert changes <= 2 + 2 * len(workers)


def test_a_version_without_the_onnx_artifact_is_served_through_pyfunc(
    trained_registry: TrainedRegistry, tmp_path: Path, synthetic_csv: Path, contract: DatasetContract
) -> None:
    """Re-log the champion's sklearn pipeline without extra files as a new version; the service must fall back and agree."""
    settings = api_settings(trained_registry, tmp_path)
    customers = valid_customers(synthetic_csv, contract, 10)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    pipeline = load_logged_pipeline(f"models:/{settings.model_name}/{trained_registry.champion}")
    experiment = mlflow.create_experiment("no-onnx", artifact_location=(tmp_path / "no-onnx-artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(pipeline, name="model", serialization_format="cloudpickle", pyfunc_predict_fn="predict_proba")
    plain = mlflow.register_model(info.model_uri, settings.model_name)
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    client.set_model_version_tag(settings.model_name, plain.version, "threshold", "0.5")
    registry.set_champion(client, settings.model_name, str(plain.version), ["test: a version without ONNX"])

    with churnops_api(settings, tmp_path / "api.log") as url:
        model = httpx.get(url + "/model").json()
        assert model["version"] == str(plain.version)
        assert model["inference"] == "pyfunc"
        fallback = httpx.post(url + "/predict/batch", json={"customers": customers}).json()["predictions"]
    expected = pipeline.predict_proba(to_model_frame(pd.DataFrame(customers), contract))[:, 1]
    assert [row["churn"] for row in fallback] == [probability >= 0.5 for probability in expected]
    assert max(abs(row["churn_probability"] - probability) for row, probability in zip(fallback, expected, strict=True)) < 1e-9
