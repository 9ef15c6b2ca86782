"""Two data sets shaped nothing like Telco, end to end with real processes, run from folders outside the repository.

subscription-app: no id column, numeric 1/0 target (`positive: 1` unquoted), unquoted numbers as categories,
an engineered ratio of two oddly named columns. gym-membership: an id column with a space in its name, target
left/stayed, a 30-level categorical, a nullable numeric with blanks. Every column name is something Python
cannot use as an identifier: `monthly spend ($)`, `sessions/week`, `plan-tier`, `2fa.enabled`, `1st-visit hour`, ...

For each: `churnops pipeline --json` (LR and random forest, so the ONNX tree path with its float32 cast is
exported) -> version registered and promoted, ONNX parity <= 1e-5 -> `churnops serve` -> /predict, /invocations,
422s that name the real column, the OpenAPI schema -> `churnops score --input` -> `churnops monitor`.

Only the pipeline is told the contract (`--dataset`): `serve`, `score` and `monitor` run without it and take
it from the version they serve (no CHURNOPS_DATASET in their environment).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnops.cli import app
from churnops.monitoring.run import metric_keys
from churnops.settings import Settings
from churnops.training.families import TREE_FAMILIES
from tests.support.datasets import GYM, SUBSCRIPTION, OtherDataset, rows_for_scoring, write
from tests.support.paths import ROOT
from tests.support.servers import churnops_api

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARITY_TOLERANCE = 1e-5
SCORED_ROWS = 200  # >= monitor_min_rows (100), so the monitoring run measures drift per column


@dataclass(frozen=True)
class Trained:
    dataset: OtherDataset
    folder: Path  # outside the repository: data, contract, MLflow store, prediction store
    csv: Path
    contract: Path
    settings: Settings
    result: dict[str, Any]  # the pipeline's --json output


def _settings(folder: Path) -> Settings:
    """No `dataset`: as_environment() exports no CHURNOPS_DATASET, so serve/score/monitor use the version's contract."""
    return Settings(
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifact_location=str(folder / "mlartifacts"),
        store_url=f"sqlite:///{folder / 'predictions.db'}",
        spool_dir=folder / "spool",
        batch_output_dir=folder / "batch",
        monitor_report_dir=folder / "monitoring",
        search_trials=3,
        cv_folds=3,
        n_jobs=1,  # two shared cores: process pools cost more than they save on 1500 rows
        families=["logistic_regression", "random_forest"],
        gate_min_roc_auc=0.6,
        alias_poll_seconds=0.5,
        store_flush_seconds=0.2,
    )


def _environment(settings: Settings) -> dict[str, str]:
    """The process environment: exactly these settings, nothing inherited from the caller's CHURNOPS_*."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(("CHURNOPS_", "MLFLOW_"))}
    return {**inherited, **settings.as_environment(), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def _churnops(settings: Settings, cwd: Path, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "churnops", *arguments],
        cwd=cwd,
        env=_environment(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _json_output(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert completed.returncode == 0, f"exit {completed.returncode}\nstdout: {completed.stdout[-2000:]}\nstderr: {completed.stderr[-4000:]}"
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module", params=[SUBSCRIPTION, GYM], ids=lambda dataset: dataset.name)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    dataset: OtherDataset = request.param
    folder = tmp_path_factory.mktemp(dataset.name)
    assert ROOT not in folder.parents, "the test must run outside the repository"
    csv, contract = write(dataset, folder, rows=1500, seed=11)
    settings = _settings(folder)
    assert "CHURNOPS_DATASET" not in _environment(settings)
    result = _json_output(_churnops(settings, folder, "pipeline", "--json", "--data", str(csv), "--dataset", str(contract)))
    return Trained(dataset, folder, csv, contract, settings, result)


@pytest.fixture(scope="module")
def api(trained: Trained) -> Iterator[httpx.Client]:
    """`churnops serve` as a real process, started in a folder of its own outside the repository."""
    serve_folder = trained.folder / "serve"
    serve_folder.mkdir(exist_ok=True)
    with churnops_api(trained.settings, serve_folder / "api.log") as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_pipeline_registers_promotes_and_exports_an_exact_onnx_model(trained: Trained) -> None:
    result, settings = trained.result, trained.settings
    assert result["version"] == "1" and result["promoted"] is True, result
    assert result["parity_difference"] <= PARITY_TOLERANCE
    client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    assert str(champion.version) == "1"
    assert float(champion.tags["fast_path_max_abs_diff"]) <= PARITY_TOLERANCE
    if trained.dataset is GYM:  # thresholds and a U-shape: the forest wins, so its ONNX form (float32 cast, trees) was exported
        assert result["family"] in TREE_FAMILIES, result["family"]


def test_predict_takes_the_real_column_names(trained: Trained, api: httpx.Client) -> None:
    dataset = trained.dataset
    answer = api.post("/predict", json=dataset.customer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert 0.0 <= body["churn_probability"] <= 1.0
    assert body["model_version"] == "1"
    assert body["label"] in ({"1", "0"} if dataset is SUBSCRIPTION else {"left", "stayed"})
    if dataset.id_column:
        assert body["customer_id"] == dataset.customer[dataset.id_column]

    # /invocations (MLflow scoring-server format) with the same customer gives the same probability.
    features = {key: value for key, value in dataset.customer.items() if key != dataset.id_column}
    split = {"dataframe_split": {"columns": list(features), "data": [list(features.values())]}}
    invoked = api.post("/invocations", json=split)
    assert invoked.status_code == 200, invoked.text
    assert invoked.json()["predictions"][0]["churn_probability"] == pytest.approx(body["churn_probability"], abs=1e-12)


def test_bad_values_get_a_422_naming_the_real_column(trained: Trained, api: httpx.Client) -> None:
    column, value = trained.dataset.bad_value
    answer = api.post("/predict", json={**trained.dataset.customer, column: value})
    assert answer.status_code == 422, answer.text
    assert [issue["loc"] for issue in answer.json()["detail"]] == [["body", column]]

    missing = {key: value for key, value in trained.dataset.customer.items() if key != column}
    answer = api.post("/predict", json=missing)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", column], answer.text


def test_openapi_schema_shows_the_real_column_names(trained: Trained, api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()["components"]["schemas"]["Customer"]
    expected = [column for column in trained.dataset.customer]
    assert sorted(schema["properties"]) == sorted(expected)
    assert {schema["properties"][name]["title"] for name in expected} == set(expected)
    example = schema["examples"][0]
    assert sorted(example) == sorted(expected)


@dataclass(frozen=True)
class Scored:
    customers: Path
    output: Path
    result: dict[str, Any]  # score's --json output


@pytest.fixture(scope="module")
def scored(trained: Trained) -> Scored:
    """`churnops score` as a process, run in a folder of its own outside the repository."""
    score_folder = trained.folder / "score"
    score_folder.mkdir(exist_ok=True)
    customers = rows_for_scoring(trained.dataset, score_folder / "customers.csv", rows=SCORED_ROWS)
    output = score_folder / "scored.parquet"
    result = _json_output(_churnops(trained.settings, score_folder, "score", "--input", str(customers), "--output", str(output), "--json"))
    return Scored(customers, output, result)


def test_score_writes_the_batch_to_the_store_and_parquet(trained: Trained, scored: Scored) -> None:
    result, customers, output = scored.result, scored.customers, scored.output
    assert result["rows"] == SCORED_ROWS and result["model_version"] == "1" and result["inference"] == "onnx"

    table = pd.read_parquet(output)
    assert len(table) == SCORED_ROWS
    inputs = pd.read_csv(customers, nrows=0).columns.tolist()
    assert set(inputs) <= set(table.columns), "the Parquet file carries the real column names"
    assert table["churn_probability"].between(0, 1).all()

    with sqlite3.connect(trained.folder / "predictions.db") as connection:
        stored = connection.execute("SELECT features FROM predictions WHERE endpoint = 'batch-scoring'").fetchall()
    assert len(stored) == SCORED_ROWS
    assert set(json.loads(stored[0][0])) == set(trained.dataset.customer) - {trained.dataset.id_column}


def test_monitor_logs_drift_per_column_under_names_mlflow_accepts(trained: Trained, scored: Scored) -> None:
    summary = _json_output(_churnops(trained.settings, trained.folder, "monitor", "--window", "1h", "--json"))
    features = [name for name in trained.dataset.customer if name != trained.dataset.id_column]
    assert sorted(summary["drift"]["features"]) == sorted(features), summary["drift"]
    client = mlflow.MlflowClient(tracking_uri=trained.settings.tracking_uri, registry_uri=trained.settings.tracking_uri)
    logged = client.get_run(summary["run_id"]).data.metrics
    for key in metric_keys(features).values():
        assert f"drift/score/{key}" in logged and f"drift/psi/{key}" in logged, key


@pytest.mark.parametrize("dataset", [SUBSCRIPTION, GYM], ids=lambda dataset: dataset.name)
def test_validate_accepts_the_data_set(dataset: OtherDataset, tmp_path: Path) -> None:
    csv, contract = write(dataset, tmp_path, rows=400, seed=3)
    result = CliRunner().invoke(app, ["validate", "--data", str(csv), "--dataset", str(contract)])
    assert result.exit_code == 0, result.output
    assert "OK: 400 rows" in result.output


def test_pipeline_json_reports_a_user_error_on_stdout(tmp_path: Path) -> None:
    csv, contract = write(GYM, tmp_path, rows=400, seed=3)
    contract.write_text(contract.read_text(encoding="utf-8").replace("positive: left", "positive: Yes"), encoding="utf-8")
    completed = _churnops(_settings(tmp_path), tmp_path, "pipeline", "--json", "--data", str(csv), "--dataset", str(contract), timeout=120)
    assert completed.returncode == 1
    error = json.loads(completed.stdout)["error"]
    assert "target.positive" in error and "quotes" in error and '"Yes"' in error, error
    assert "target.positive" in completed.stderr and "Traceback" not in completed.stderr
