"""The three flows run for real on a Prefect server: their results, what they stored, and the MLflow <-> Prefect links."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import mlflow
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, State, TaskRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.sorting import ArtifactSort, TaskRunSort
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Failed

from churnops.data.contract import DatasetContract
from churnops.data.loading import load_customers
from churnops.errors import DataError, StoreError, TrackingServerError
from churnops.flows.batch_scoring import batch_scoring_flow, score
from churnops.flows.monitoring import monitoring_flow
from churnops.flows.runs import retry_on_transient_errors
from churnops.flows.training import training_flow, validate
from churnops.registry import CHAMPION
from churnops.settings import Settings
from tests.support.flows import FlowEnvironment
from tests.support.waiting import wait_until

TELCO_ROWS = 7043
CHURNOPS = str(Path(sys.executable).with_name("churnops"))
PREFECT = str(Path(sys.executable).with_name("prefect"))


@dataclass(frozen=True)
class FinishedFlow:
    id: UUID
    result: dict[str, Any]


def run_flow(state: State[Any]) -> FinishedFlow:
    assert state.is_completed(), state
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    return FinishedFlow(flow_run_id, state.result())


def read_flow_run(flow_run_id: UUID) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def read_task_runs(flow_run_id: UUID) -> list[TaskRun]:
    with get_client(sync_client=True) as client:
        # sort and limit are given: this server (prefect 3.8 on FastAPI 0.154) refuses them as null.
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=100
        )


def mlflow_client(settings: Settings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def assert_linked(settings: Settings, flow_run_id: UUID, mlflow_runs: dict[str, str]) -> None:
    """The flow run carries `mlflow.<kind>:<id>` tags, and each MLflow run carries the flow run's id."""
    tags = set(read_flow_run(flow_run_id).tags)
    assert {f"mlflow.{kind}:{run_id}" for kind, run_id in mlflow_runs.items()} <= tags, tags
    client = mlflow_client(settings)
    for run_id in mlflow_runs.values():
        run_tags = client.get_run(run_id).data.tags
        assert run_tags["prefect.flow_run_id"] == str(flow_run_id), run_tags
        assert run_tags["prefect.flow_run_url"].endswith(str(flow_run_id))


@pytest.fixture(scope="module")
def training(flow_environment: FlowEnvironment) -> FinishedFlow:
    return run_flow(training_flow(return_state=True))


@pytest.fixture(scope="module")
def batch(training: FinishedFlow, telco_csv: Any) -> FinishedFlow:
    return run_flow(batch_scoring_flow(input_file=str(telco_csv), return_state=True))


def test_training_flow_registers_a_gated_champion(training: FinishedFlow, flow_environment: FlowEnvironment) -> None:
    result = training.result
    assert result["version"] == "1" and result["promoted"], result["reasons"]
    assert result["family"] == "logistic_regression"
    assert result["test_metrics"]["roc_auc"] > 0.8  # logistic regression on Telco: about 0.84
    client = mlflow_client(flow_environment.settings)
    assert str(client.get_model_version_by_alias(flow_environment.settings.model_name, CHAMPION).version) == "1"


def test_training_flow_runs_each_step_as_a_task_and_links_every_mlflow_run(training: FinishedFlow, flow_environment: FlowEnvironment) -> None:
    settings, result = flow_environment.settings, training.result
    assert read_flow_run(training.id).state_type.value == "COMPLETED"
    tasks = {task.name.rsplit("-", 1)[0]: task for task in read_task_runs(training.id)}
    assert {"validate", "train", "evaluate", "register and gate", "link MLflow runs", "publish summary"} <= set(tasks)
    assert all(task.state_type.value == "COMPLETED" for task in tasks.values())

    runs = {"training": result["training_run_id"], "evaluation": result["evaluation_run_id"], "gate": result["gate_run_id"]}
    assert_linked(settings, training.id, runs)
    client = mlflow_client(settings)
    experiment = client.get_run(result["training_run_id"]).info.experiment_id
    trials = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{result['training_run_id']}'")
    assert len(trials) >= 2  # one nested run per search trial
    assert all(trial.data.tags["prefect.flow_run_id"] == str(training.id) for trial in trials)

    with get_client(sync_client=True) as prefect:
        artifacts = prefect.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["training-summary"])), sort=ArtifactSort.CREATED_DESC, limit=10
        )
    assert any(artifact.flow_run_id == training.id and result["training_run_id"] in str(artifact.data) for artifact in artifacts)


def test_validation_is_cached_on_the_file_content(flow_environment: FlowEnvironment, telco_csv: Any, tmp_path: Any) -> None:
    copy = tmp_path / "customers.csv"
    copy.write_bytes(telco_csv.read_bytes())
    settings = flow_environment.settings.model_copy(update={"data": str(copy)})

    @flow
    def validate_twice(settings: Settings) -> tuple[State[Any], State[Any]]:
        return validate(settings, return_state=True), validate(settings, return_state=True)

    first, second = validate_twice(settings)
    assert first.name == "Completed" and second.name == "Cached"
    assert second.result().dataset.fingerprint == first.result().dataset.fingerprint

    lines = copy.read_text().splitlines()
    lines[1] = lines[1].replace(",Female,", ",Male,", 1) if ",Female," in lines[1] else lines[1].replace(",Male,", ",Female,", 1)
    copy.write_text("\n".join(lines) + "\n")
    changed, _ = validate_twice(settings)
    assert changed.name == "Completed", "a changed file must be validated again"
    assert changed.result().dataset.fingerprint != first.result().dataset.fingerprint


def test_only_unreachable_servers_are_retried(flow_environment: FlowEnvironment, tmp_path: Any) -> None:
    assert retry_on_transient_errors(None, None, Failed(data=TrackingServerError("down")))  # type: ignore[arg-type]
    assert retry_on_transient_errors(None, None, Failed(data=StoreError("down")))  # type: ignore[arg-type]
    assert not retry_on_transient_errors(None, None, Failed(data=DataError("bad file")))  # type: ignore[arg-type]

    bad = tmp_path / "bad.csv"
    bad.write_text("customerID,gender\n1,Female\n")
    down = flow_environment.settings.model_copy(update={"tracking_uri": "http://127.0.0.1:9"})  # nothing listens on port 9

    @flow
    def score_with(settings: Settings, input_file: str) -> dict[str, Any]:
        state = score.with_options(retry_delay_seconds=0)(settings, input_file, None, return_state=True)
        return {"failed": state.is_failed(), "message": state.message, "task_run_id": state.state_details.task_run_id}

    data_error = score_with(flow_environment.settings, str(bad))
    assert data_error["failed"] and "missing column" in str(data_error["message"])
    server_down = score_with(down, flow_environment.variables["CHURNOPS_DATA"])
    assert server_down["failed"] and "not reachable" in str(server_down["message"])
    with get_client(sync_client=True) as client:
        attempts = [client.read_task_run(outcome["task_run_id"]).run_count for outcome in (data_error, server_down)]
    assert attempts == [1, 3], "a data error fails at once; an unreachable server is tried 1 + 2 times"


def test_batch_scoring_flow_scores_every_telco_customer(
    batch: FinishedFlow, flow_environment: FlowEnvironment, telco_csv: Any, contract: DatasetContract
) -> None:
    settings, summary = flow_environment.settings, batch.result
    assert summary["rows"] == TELCO_ROWS and summary["model_version"] == "1" and summary["spooled"] == 0
    engine = sa.create_engine(settings.store.url)
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT endpoint, request_id, count(*) FROM predictions GROUP BY endpoint, request_id")).all()
    engine.dispose()
    assert stored == [("batch-scoring", summary["run_id"], TELCO_ROWS)]

    table = pd.read_parquet(summary["output"])
    customers = load_customers(telco_csv, contract)
    assert len(table) == TELCO_ROWS and table["customerID"].tolist() == customers.ids.tolist()
    assert table["prediction_id"].is_unique
    # The same probabilities as the registered model itself gives.
    champion = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{CHAMPION}")
    expected = champion.predict(customers.features)["churn_probability"].to_numpy()
    np.testing.assert_allclose(table["churn_probability"].to_numpy(), expected, atol=1e-5)
    assert (table["churn"] == (table["churn_probability"] >= summary["threshold"])).all()
    assert summary["predicted_churners"] == int(table["churn"].sum())

    assert_linked(settings, batch.id, {"batch-scoring": summary["run_id"]})


def test_monitoring_flow_measures_the_window_and_links_its_run(batch: FinishedFlow, flow_environment: FlowEnvironment) -> None:
    state = monitoring_flow(window="1h", return_state=True)
    monitored = run_flow(state)
    summary = monitored.result
    assert summary["quality"]["rows"] == TELCO_ROWS  # the batch just scored
    assert summary["model"]["version"] == "1"
    assert "share_drifted_features" in summary["drift"]
    run = mlflow_client(flow_environment.settings).get_run(summary["run_id"])
    assert run.data.tags["churnops.kind"] == "monitoring"
    assert_linked(flow_environment.settings, monitored.id, {"monitoring": summary["run_id"]})


# --- churnops schedule: the flows as cron deployments ------------------------------------------------


def churnops_schedule(environment: FlowEnvironment, api_url: str, log: Path, *arguments: str, **variables: str) -> subprocess.Popen[bytes]:
    settings_variables = {**environment.variables, **variables}
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")} | settings_variables | {"PREFECT_API_URL": api_url}
    with log.open("wb") as output:
        return subprocess.Popen(
            [CHURNOPS, "schedule", *arguments],
            cwd=environment.folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=interruptible,  # noqa: PLW1509 - resets one signal, no locks taken
        )


def interruptible() -> None:
    """Ctrl-C works in the child as at a terminal: a run started in the background (nohup, `cmd &` in a script)
    inherits SIGINT ignored, and Python then never raises KeyboardInterrupt, so the served process would not stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_deployment(name: str) -> DeploymentResponse | None:
    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:
            return None


def stored_rows(settings: Settings, request_id: str) -> int:
    engine = sa.create_engine(settings.store.url)
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(sa.table("predictions")).where(sa.column("request_id") == request_id))
        rows = int(count.scalar_one())
    engine.dispose()
    return rows


def sample_file(telco_csv: Path, folder: Path, customers: int) -> Path:
    path = folder / f"customers-{customers}.csv"
    path.write_text("\n".join(telco_csv.read_text().splitlines()[: customers + 1]) + "\n")
    return path


def test_schedule_serves_cron_deployments_from_config_and_runs_them(
    training: FinishedFlow, flow_environment: FlowEnvironment, prefect_server: str, telco_csv: Path, tmp_path: Path
) -> None:
    customers = sample_file(telco_csv, tmp_path, 250)
    log = tmp_path / "schedule.log"
    process = churnops_schedule(
        flow_environment,
        prefect_server,
        log,
        CHURNOPS_SCHEDULE_TRAINING_CRON="15 4 * * 1",
        CHURNOPS_SCHEDULE_MONITORING_CRON="",  # disabled
        CHURNOPS_SCHEDULE_BATCH_SCORING_CRON="45 23 * * *",
        CHURNOPS_SCHEDULE_TIMEZONE="Europe/Berlin",
        CHURNOPS_BATCH_INPUT=str(customers),
    )
    try:
        wait_until(
            lambda: read_deployment("batch-scoring/nightly-batch-scoring") and read_deployment("training/daily-training"),
            120,
            f"no deployments; see {log}",
        )
        for name, cron in (("training/daily-training", "15 4 * * 1"), ("batch-scoring/nightly-batch-scoring", "45 23 * * *")):
            deployment = read_deployment(name)
            assert deployment is not None and [(item.schedule.cron, item.schedule.timezone) for item in deployment.schedules] == [
                (cron, "Europe/Berlin")
            ]  # type: ignore[union-attr]
            assert deployment.entrypoint.startswith("churnops.flows.")
        assert read_deployment("monitoring/hourly-monitoring") is None

        # The served process runs a flow run of its deployment: the batch from CHURNOPS_BATCH_INPUT.
        flow_run = run_deployment("batch-scoring/nightly-batch-scoring", timeout=240)
        assert flow_run.state is not None and flow_run.state.is_completed(), log.read_text()
        batch_run = next(tag.split(":", 1)[1] for tag in read_flow_run(flow_run.id).tags if tag.startswith("mlflow.batch-scoring:"))
        assert stored_rows(flow_environment.settings, batch_run) == 250
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
    assert code == 0, log.read_text()


def test_schedule_registers_deployments_on_a_work_pool_and_a_worker_runs_them(
    training: FinishedFlow, flow_environment: FlowEnvironment, prefect_server: str, telco_csv: Path, tmp_path: Path
) -> None:
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="churnops-pool", type="process"), overwrite=True)
    customers = sample_file(telco_csv, tmp_path, 120)
    log = tmp_path / "deploy.log"
    registered = churnops_schedule(flow_environment, prefect_server, log, "--work-pool", "churnops-pool", CHURNOPS_BATCH_INPUT=str(customers))
    assert registered.wait(120) == 0, log.read_text()
    assert "registered 3 deployments on work pool 'churnops-pool'" in log.read_text()
    deployment = read_deployment("batch-scoring/nightly-batch-scoring")
    assert deployment is not None and deployment.work_pool_name == "churnops-pool"

    flow_run = run_deployment("batch-scoring/nightly-batch-scoring", parameters={"input_file": str(customers)}, timeout=0)
    worker_log = tmp_path / "worker.log"
    env = {**os.environ, **flow_environment.variables, "PREFECT_API_URL": prefect_server}
    with worker_log.open("wb") as output:
        worker = subprocess.run(
            [PREFECT, "worker", "start", "--pool", "churnops-pool", "--run-once"],
            cwd=flow_environment.folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    assert worker.returncode == 0, worker_log.read_text()
    finished = read_flow_run(flow_run.id)
    assert finished.state is not None and finished.state.is_completed(), worker_log.read_text()
    batch_run = next(tag.split(":", 1)[1] for tag in finished.tags if tag.startswith("mlflow.batch-scoring:"))
    assert stored_rows(flow_environment.settings, batch_run) == 120


def test_schedule_rejects_a_bad_cron_naming_the_setting(flow_environment: FlowEnvironment, tmp_path: Path) -> None:
    log = tmp_path / "schedule.log"
    process = churnops_schedule(flow_environment, "http://127.0.0.1:9/api", log, CHURNOPS_SCHEDULE_TRAINING_CRON="every day")
    assert process.wait(60) == 1
    output = log.read_text()
    assert "CHURNOPS_SCHEDULE_TRAINING_CRON='every day'" in output and "not a valid schedule" in output
    assert "Traceback" not in output


def test_score_command_refuses_a_non_parquet_output(flow_environment: FlowEnvironment, tmp_path: Path) -> None:
    result = subprocess.run(
        [CHURNOPS, "score", "--output", str(tmp_path / "scored.csv")],
        cwd=flow_environment.folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "must be a .parquet file" in result.stderr and "Traceback" not in result.stderr
