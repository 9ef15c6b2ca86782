"""The API image, built from deploy/docker/api.Dockerfile and run in podman: it serves the champion it loads
from an MLflow server outside the container, answers the documented examples exactly as the model does in
process, runs as a non-root user, honours PORT, and carries only what serving needs."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest

from churnops.data.contract import load_contract
from tests.support.containers import BuiltImages, RegistryServer, podman, running, wait_for_http
from tests.support.paths import CONTRACT_PATH
from tests.support.servers import free_port

pytestmark = [pytest.mark.containers, pytest.mark.integration]

CONTAINER_PORT = 9137  # not the image's default 8080: the test proves PORT is honoured


@pytest.fixture(scope="module")
def api_container(images: BuiltImages, registry_server: RegistryServer) -> Iterator[dict[str, Any]]:
    port, result = free_port(), registry_server.result
    started = time.monotonic()
    with running(
        images.tag("api"),
        name=f"churnops-api-test-{port}",
        env={"PORT": str(CONTAINER_PORT), "CHURNOPS_TRACKING_URI": registry_server.container_url, "CHURNOPS_MODEL_NAME": result.model_name},
        ports={port: CONTAINER_PORT},
    ) as name:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/ready", timeout=180, container=name)
        ready_seconds = time.monotonic() - started
        print(f"\nAPI container: start to /ready in {ready_seconds:.1f} s", file=sys.stderr)
        yield {"name": name, "url": base, "result": result, "tracking_uri": registry_server.url, "ready_seconds": ready_seconds}


def test_ready_reports_the_champion_loaded_from_the_mlflow_server(api_container: dict[str, Any]) -> None:
    readiness = httpx.get(f"{api_container['url']}/ready").json()
    assert readiness["ready"] is True and readiness["reasons"] == []
    assert readiness["model_version"] == api_container["result"].version
    assert readiness["store"] == "ok"


def test_documented_examples_score_exactly_as_the_model_in_process(api_container: dict[str, Any]) -> None:
    base, result = api_container["url"], api_container["result"]
    # The README's example (the contract's example customer) and the examples /docs shows.
    readme_example = load_contract(CONTRACT_PATH).example_record()
    openapi = httpx.get(f"{base}/openapi.json").json()
    single, batch = _request_example(openapi, "/predict"), _request_example(openapi, "/predict/batch")

    mlflow.set_tracking_uri(api_container["tracking_uri"])
    mlflow.set_registry_uri(api_container["tracking_uri"])
    model = mlflow.pyfunc.load_model(f"models:/{result.model_name}@champion")
    for customer in (readme_example, single):
        answer = httpx.post(f"{base}/predict", json=customer)
        assert answer.status_code == 200, answer.text
        expected = float(model.predict(pd.DataFrame([customer]))["churn_probability"].iloc[0])
        assert answer.json()["churn_probability"] == pytest.approx(expected, abs=1e-6)
        assert answer.json()["model_version"] == result.version

    answer = httpx.post(f"{base}/predict/batch", json=batch)
    assert answer.status_code == 200, answer.text
    expected = model.predict(pd.DataFrame(batch["customers"]))["churn_probability"].tolist()
    assert [p["churn_probability"] for p in answer.json()["predictions"]] == pytest.approx(expected, abs=1e-6)


def _request_example(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    """The first example /docs shows for a request body (inline, or in the schema it refers to)."""
    schema = openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return dict(schema["examples"][0])


def test_the_server_runs_as_a_non_root_user(api_container: dict[str, Any]) -> None:
    name = api_container["name"]
    assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
    # PID 1 is the server itself (exec'd by the CMD's shell), so it receives the container's SIGTERM.
    status = podman("exec", name, "cat", "/proc/1/status").stdout
    assert "Uid:\t10001" in status
    command_line = podman("exec", name, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert "churnops serve" in command_line and f"--port {CONTAINER_PORT}" in command_line


def test_healthcheck_passes_and_labels_name_the_build(images: BuiltImages, api_container: dict[str, Any]) -> None:
    assert podman("healthcheck", "run", api_container["name"]).returncode == 0
    config = json.loads(podman("image", "inspect", images.tag("api")).stdout)[0]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == images.version
    assert labels["org.opencontainers.image.revision"] == images.commit and images.commit not in ("", "unknown")
    healthcheck = config.get("Healthcheck") or config["Config"]["Healthcheck"]  # podman puts it beside Config
    assert "/health" in " ".join(healthcheck["Test"])


def test_the_api_image_carries_only_what_serving_needs(images: BuiltImages) -> None:
    probe = (
        "import importlib.util as u, shutil;"
        "print([m for m in ('optuna','prefect','evidently','matplotlib','skl2onnx','flask','streamlit') if u.find_spec(m)]);"
        "print([t for t in ('uv','pip','gcc','cc') if shutil.which(t)])"
    )
    modules, tools = podman("run", "--rm", images.tag("api"), "python", "-c", probe).stdout.strip().splitlines()
    assert modules == "[]", f"training or monitoring packages in the API image: {modules}"
    assert tools == "[]", f"build tools in the API image: {tools}"
    size_mb = int(podman("image", "inspect", "--format", "{{.Size}}", images.tag("api")).stdout) / 1e6
    print(f"\nAPI image: {size_mb:.0f} MB", file=sys.stderr)


@pytest.mark.parametrize(("command", "group"), [(["pipeline", "--trials", "1"], "train"), (["ui"], "ui")])
def test_a_command_beyond_serving_in_the_api_image_names_the_image_to_use(images: BuiltImages, command: list[str], group: str) -> None:
    result = podman("run", "--rm", images.tag("api"), "churnops", *command, check=False)
    assert result.returncode != 0
    assert f"churnops[{group}]" in result.stderr and "churnops-jobs" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_jobs_image_runs_every_command(images: BuiltImages, tmp_path: Path) -> None:
    result = podman("run", "--rm", images.tag("jobs"), "pipeline", "--help")
    assert "Validate, train, evaluate, register and gate" in result.stdout
    probe = "import optuna, prefect, evidently, matplotlib, skl2onnx, mlflow.server, streamlit; print('ok')"
    assert podman("run", "--rm", "--entrypoint", "python", images.tag("jobs"), "-c", probe).stdout.strip() == "ok"


def test_stopping_the_container_is_a_graceful_shutdown(images: BuiltImages, registry_server: RegistryServer) -> None:
    port = free_port()
    env = {"CHURNOPS_TRACKING_URI": registry_server.container_url, "CHURNOPS_MODEL_NAME": registry_server.result.model_name}
    with running(images.tag("api"), name=f"churnops-api-stop-{port}", env=env, ports={port: 8080}) as name:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=180, container=name)
        assert httpx.post(f"http://127.0.0.1:{port}/predict", json=load_contract(CONTRACT_PATH).example_record()).status_code == 200
        started = time.monotonic()
        podman("stop", "-t", "60", name)
        stopped_after = time.monotonic() - started
        state = json.loads(podman("inspect", "--format", "{{json .State}}", name).stdout)
        # 143: terminated by SIGTERM, after uvicorn's graceful shutdown (137 would be the kill after the timeout).
        assert state["ExitCode"] in (0, 143), f"exit code {state['ExitCode']} after SIGTERM"
        assert stopped_after < 50, f"took {stopped_after:.0f} s to stop"
        logs = podman("logs", name)
        assert "Application shutdown complete" in logs.stdout + logs.stderr


def test_urlopen_of_the_container_port_needs_no_proxy(api_container: dict[str, Any]) -> None:
    """A plain client (urllib, as a user's script) reaches the published port on loopback."""
    with urllib.request.urlopen(f"{api_container['url']}/health", timeout=5) as response:  # noqa: S310
        assert json.loads(response.read())["status"] == "ok"


def test_a_job_container_stops_on_sigterm_without_waiting_for_the_kill(images: BuiltImages) -> None:
    """`churnops` is PID 1 in the jobs image, where the kernel drops a default SIGTERM: it must exit on its own."""
    name = f"churnops-jobs-stop-{free_port()}"
    podman("run", "-d", "--name", name, images.tag("jobs"), "pipeline", "--trials", "500")
    try:
        time.sleep(8)  # well inside the pipeline (imports, synthetic data, the search)
        started = time.monotonic()
        podman("stop", "-t", "60", name)
        stopped_after = time.monotonic() - started
        state = json.loads(podman("inspect", "--format", "{{json .State}}", name).stdout)
        assert state["ExitCode"] == 143, f"exit code {state['ExitCode']} (137 would mean it ignored SIGTERM and was killed)"
        assert stopped_after < 30, f"took {stopped_after:.0f} s to stop"
    finally:
        podman("rm", "-f", name, check=False)
