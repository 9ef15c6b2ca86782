"""The compose stack (deploy/compose.yaml), for real on podman: the file validates against the Compose
specification and renders; `scripts/stack.py up` (what `make stack` runs) brings every service up healthy;
the pipeline in the jobs container registers a champion in the containerised MLflow on PostgreSQL; the
API container serves it and writes each prediction to the containerised prediction store; Prometheus has
scraped the API and the containers' CPU and memory; the scheduler registered its deployments on the
Prefect server; `down --volumes` leaves nothing behind.

Stand-ins replace the images no registry can give here (deploy/standins/: postgres, prometheus);
Elasticsearch and Kibana (profile elastic) are validated only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from churnops.data.contract import load_contract
from churnops.data.synthetic import write as write_synthetic
from tests.support.compose import COMPOSE_FILE, ENV_EXAMPLE, SERVICES, StackRun, compose_binary, new_stack, standin_images
from tests.support.containers import built_images, podman
from tests.support.paths import CONTRACT_PATH, ROOT
from tests.support.prerequisites import require
from tests.support.servers import free_port

MODEL_NAME = "churn-classifier"


def rendered(*profiles: str) -> dict[str, Any]:
    """`docker compose config` of deploy/compose.yaml with the example env file."""
    command = [str(compose_binary()), "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE)]
    for profile in profiles:
        command += ["--profile", profile]
    result = subprocess.run([*command, "config", "--format", "json"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_compose_file_follows_the_compose_specification() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rendered_stack_has_health_checks_loopback_ports_and_no_secrets() -> None:
    config = rendered("jobs", "docker", "podman", "elastic")
    services = config["services"]
    assert set(services) == {*SERVICES, "pipeline", "cadvisor", "elasticsearch", "kibana"}
    for name, service in services.items():
        if name != "pipeline":  # the only one-shot service
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition["condition"] == "service_healthy", f"{name} starts before {dependency} is healthy"
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    assert services["pipeline"]["profiles"] == ["jobs"] and services["elasticsearch"]["profiles"] == ["elastic"]
    # The secrets come from the env file only: the compose file itself names none.
    text = COMPOSE_FILE.read_text()
    assert "change-me" not in text and "POSTGRES_PASSWORD:?" in text
    example_password = "change-me"  # noqa: S105 - deploy/.env.example's placeholder
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == example_password  # the example's, through interpolation
    # Every image is a variable (tests and machines without a registry substitute local builds).
    raw = yaml.safe_load(text)["services"]
    assert all(service["image"].startswith("${") for service in raw.values()), {name: service["image"] for name, service in raw.items()}
    assert {"CHURNOPS_API_IMAGE", "CHURNOPS_JOBS_IMAGE", "POSTGRES_IMAGE", "PROMETHEUS_IMAGE", "CADVISOR_IMAGE"} <= {
        line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and not line.startswith("#")
    }
    assert services["api"]["build"]["dockerfile"] == "deploy/docker/api.Dockerfile"
    assert services["mlflow"]["build"]["args"]["BASE_IMAGE"] == "python:3.11-slim-bookworm"


def test_prometheus_accepts_the_stack_config() -> None:
    promtool = shutil.which("promtool")
    require(promtool is not None, "Debian's prometheus package is not installed (make system-deps)")
    assert promtool is not None
    result = subprocess.run(
        [promtool, "check", "config", str(ROOT / "deploy" / "prometheus" / "stack.yml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, Any]]:
    images = built_images(tmp_path_factory, worker_id)
    standins = standin_images(tmp_path_factory, worker_id)
    folder = tmp_path_factory.mktemp("compose")
    # The training data through the bind mount: a small synthetic CSV (quick), readable by the containers' user.
    data_dir = folder / "data"
    write_synthetic(data_dir / "customers.csv", rows=1500, seed=7)
    data_dir.chmod(0o755)
    (data_dir / "customers.csv").chmod(0o644)
    run = new_stack(
        folder,
        {
            # Tagged with this checkout's commit: another build's :latest may replace ours while the test runs.
            "CHURNOPS_API_IMAGE": images.tag("api", images.commit),
            "CHURNOPS_JOBS_IMAGE": images.tag("jobs", images.commit),
            **standins,
        },
        {"api": free_port(), "ui": free_port(), "mlflow": free_port(), "prefect": free_port(), "prometheus": free_port()},
        data_dir,
        CHURNOPS_DATA="/data/customers.csv",
        CHURNOPS_SEARCH_TRIALS="2",
        CHURNOPS_CV_FOLDS="3",
        CHURNOPS_GATE_MIN_ROC_AUC="0.6",
        CHURNOPS_ALIAS_POLL_SECONDS="2",
        MLFLOW_WORKERS="1",
    )
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        up = run.stack("up", "--no-build", "--timeout", "480")
        timings["up"] = time.monotonic() - started
        assert up.returncode == 0, f"stack up failed:\n{up.stdout[-3000:]}{up.stderr[-3000:]}\n{run.health()}\n{run.logs()}"
        started = time.monotonic()
        trained = run.stack("pipeline", timeout=900)
        timings["pipeline"] = time.monotonic() - started
        assert trained.returncode == 0, f"pipeline failed:\n{trained.stdout[-3000:]}{trained.stderr[-3000:]}"
        print(f"compose stack {run.project}: up in {timings['up']:.0f} s, pipeline in {timings['pipeline']:.0f} s", file=sys.stderr)
        yield {"run": run, "up": up, "pipeline": trained, "timings": timings}
    finally:
        if run.leftovers()["containers"]:
            sys.stderr.write(f"--- {run.project} ---\n{run.health()}\n{run.logs(tail=20)}\n")
        run.stack("down", "--volumes", timeout=300)
        run.remove()  # whatever down could not (its service gone): the machine is left as it was


def champion_version(run: StackRun) -> str:
    answer = httpx.get(f"{run.url('mlflow')}/api/2.0/mlflow/registered-models/alias", params={"name": MODEL_NAME, "alias": "champion"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["model_version"]["version"])


def prometheus_query(run: StackRun, query: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{run.url('prometheus')}/api/v1/query", params={"query": query})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"]["result"])


class TestTheStackOnPodman:
    """The stack up with podman (stand-ins for postgres and prometheus), then taken down."""

    pytestmark = [pytest.mark.containers, pytest.mark.integration]

    def test_up_waits_until_every_service_is_healthy_and_prints_the_urls(self, stack: dict[str, Any]) -> None:
        run: StackRun = stack["run"]
        states = run.health()
        assert {service: states.get(service) for service in SERVICES} == dict.fromkeys(SERVICES, "running/healthy")
        output = stack["up"].stdout
        for service in ("api", "ui", "mlflow", "prefect", "prometheus"):
            assert run.url(service) in output
        assert "make stack-pipeline" in output

    def test_the_pipeline_registers_a_champion_in_mlflow_on_postgresql(self, stack: dict[str, Any]) -> None:
        run: StackRun = stack["run"]
        version = champion_version(run)
        assert "promoted to champion" in stack["pipeline"].stdout
        # The registry is the containerised PostgreSQL's `mlflow` database; the artifacts are on the volume.
        alias_query = f"SELECT version FROM registered_model_aliases WHERE name = '{MODEL_NAME}' AND alias = 'champion'"  # noqa: S608 - our constant
        assert run.psql("mlflow", alias_query) == version
        listing = podman("exec", run.container("mlflow"), "find", "/mlartifacts", "-name", "model.onnx").stdout
        assert "model.onnx" in listing, f"no model.onnx under /mlartifacts:\n{listing}"

    def test_the_api_serves_the_champion_and_stores_each_prediction_in_postgresql(self, stack: dict[str, Any]) -> None:
        run: StackRun = stack["run"]
        version = champion_version(run)
        deadline = time.monotonic() + 90  # the API follows the alias every CHURNOPS_ALIAS_POLL_SECONDS
        readiness: dict[str, Any] = {}
        while time.monotonic() < deadline:
            readiness = httpx.get(f"{run.url('api')}/ready").json()
            if readiness.get("model_version") == version:
                break
            time.sleep(1)
        assert readiness.get("model_version") == version and readiness["ready"] is True, readiness
        assert readiness["store"] == "ok"

        answer = httpx.post(f"{run.url('api')}/predict", json=load_contract(CONTRACT_PATH).example_record())
        assert answer.status_code == 200, answer.text
        prediction = answer.json()
        assert prediction["model_version"] == version
        deadline = time.monotonic() + 30
        row = ""
        while time.monotonic() < deadline and not row:
            query = f"SELECT model_version, endpoint FROM predictions WHERE id = '{prediction['prediction_id']}'"  # noqa: S608 - a hex id
            row = run.psql("predictions", query)
            time.sleep(0.5)
        assert row == f"{version}|predict"

    def test_the_web_front_end_answers_beside_the_api(self, stack: dict[str, Any]) -> None:
        run: StackRun = stack["run"]
        assert httpx.get(f"{run.url('ui')}/_stcore/health").text == "ok"
        page = httpx.get(run.url("ui"))
        assert page.status_code == 200 and "streamlit" in page.text.lower()

    def test_prometheus_scrapes_the_api_and_the_containers_cpu_and_memory(self, stack: dict[str, Any]) -> None:
        run: StackRun = stack["run"]
        project = f'container_label_com_docker_compose_project="{run.project}"'
        queries = {
            "api scraped": 'up{job="churnops-api"} == 1',
            "api requests": 'churnops_requests_total{job="churnops-api"}',
            "api memory": f'container_memory_usage_bytes{{{project}, container_label_com_docker_compose_service="api"}} > 0',
            "mlflow cpu": f'container_cpu_usage_seconds_total{{{project}, container_label_com_docker_compose_service="mlflow"}} > 0',
        }
        deadline = time.monotonic() + 90  # scrape interval 10 s; the exporter is found by DNS every 10 s
        missing = list(queries)
        while missing and time.monotonic() < deadline:
            missing = [name for name in missing if not prometheus_query(run, queries[name])]
            time.sleep(2)
        assert not missing, f"no series in Prometheus for {missing}"
        memory = prometheus_query(run, queries["api memory"])[0]
        assert memory["metric"]["name"] == run.container("api") and memory["metric"]["job"] == "containers"

    def test_the_scheduler_serves_the_flows_on_the_prefect_server(self, stack: dict[str, Any]) -> None:
        run: StackRun = stack["run"]
        answer = httpx.post(f"{run.url('prefect')}/api/deployments/filter", json={})
        assert answer.status_code == 200, answer.text
        deployments = {deployment["name"]: deployment.get("status") for deployment in answer.json()}
        assert deployments == dict.fromkeys(("daily-training", "hourly-monitoring", "nightly-batch-scoring"), "READY")

    def test_down_with_volumes_leaves_nothing_behind(self, stack: dict[str, Any]) -> None:
        run: StackRun = stack["run"]
        started = time.monotonic()
        down = run.stack("down", "--volumes", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
        print(f"compose stack {run.project}: down in {time.monotonic() - started:.0f} s", file=sys.stderr)
        assert run.leftovers() == {"containers": [], "volumes": [], "networks": []}
        assert not run.socket.exists(), "the stack's podman service is still running"
