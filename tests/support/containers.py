"""Real containers for the deployment tests: podman, the images of deploy/docker/, built once per test run.

No base image can be pulled here, so the images are built on a Debian base made locally with
debootstrap (`scripts/images.py base`); the layer cache of the machine's podman storage makes a
rebuild with unchanged dependencies take seconds. deploy/podman/containers.conf selects runc and
limits this sandbox allows (crun fails on its hybrid cgroups).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from churnops.training.pipeline import run_pipeline
from tests.support.paths import ROOT
from tests.support.prerequisites import require
from tests.support.servers import mlflow_server
from tests.support.settings import fast_settings
from tests.support.workers import once_per_run

LOCAL_BASE = "localhost/churnops-base:bookworm"
CONTAINERS_CONF = ROOT / "deploy" / "podman" / "containers.conf"
IMAGES_SCRIPT = ROOT / "scripts" / "images.py"
# Host-side address a container reaches the host by (podman adds it to each container's /etc/hosts).
HOST_FROM_CONTAINER = "host.containers.internal"


def engine_environment() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), "CONTAINER_ENGINE": "podman"}


def require_podman() -> None:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    require(not missing, f"container tests need {', '.join(missing)} (make system-deps installs them)")
    require(os.geteuid() == 0, "container tests run podman as root (the local base is built with debootstrap)")


def podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=engine_environment(), timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


@dataclass(frozen=True)
class BuiltImages:
    version: str
    commit: str
    build_output: str

    def tag(self, image: str, tag: str | None = None) -> str:
        """The commit tag by default: `latest` may be retagged meanwhile by a build from another checkout."""
        return f"localhost/churnops-{image}:{tag or self.commit}"


def build_images(folder: Path) -> BuiltImages:
    """The local base (once per machine), then every image from the repository's Dockerfiles."""
    started = time.monotonic()
    for command in (["base", "--name", LOCAL_BASE], ["build", "--base-image", LOCAL_BASE]):
        result = subprocess.run(
            [sys.executable, str(IMAGES_SCRIPT), *command], capture_output=True, text=True, env=engine_environment(), timeout=1800, check=False
        )
        (folder / "images.log").open("a").write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise AssertionError(f"scripts/images.py {command[0]} failed: {(result.stderr or result.stdout).strip()[-3000:]}")
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", "localhost/churnops-api:latest").stdout)
    print(f"images built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return BuiltImages(labels["org.opencontainers.image.version"], labels["org.opencontainers.image.revision"], (folder / "images.log").read_text())


def built_images(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> BuiltImages:
    require_podman()
    return once_per_run(tmp_path_factory, worker_id, "container-images", build_images)


@contextmanager
def running(image: str, *args: str, name: str, env: dict[str, str] | None = None, ports: dict[int, int] | None = None) -> Iterator[str]:
    """`podman run -d` of `image`; yields the container's name; removes it (and says what it logged) afterwards."""
    command = ["run", "-d", "--name", name]
    for host_port, container_port in (ports or {}).items():
        command += ["-p", f"127.0.0.1:{host_port}:{container_port}"]
    for key, value in (env or {}).items():
        command += ["-e", f"{key}={value}"]
    podman(*command, image, *args)
    try:
        yield name
    finally:
        logs = podman("logs", name, check=False)
        sys.stderr.write(f"--- {name} logs (tail) ---\n{(logs.stdout + logs.stderr)[-3000:]}\n")
        podman("rm", "-f", "-t", "5", name, check=False)


def wait_for_http(url: str, timeout: float, container: str | None = None) -> float:
    """Seconds until `url` answers 200; fails with the container's logs if it does not."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test URL
                if response.status == 200:
                    return time.monotonic() - started
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:300]!r}"
        except OSError as error:
            last = str(error)
        if container and podman("inspect", "--format", "{{.State.Running}}", container, check=False).stdout.strip() == "false":
            break
        time.sleep(0.5)
    logs = podman("logs", container, check=False) if container else None
    raise AssertionError(
        f"{url} not ready after {time.monotonic() - started:.0f} s ({last})" + (f"\n{(logs.stdout + logs.stderr)[-3000:]}" if logs else "")
    )


@dataclass(frozen=True)
class ServedRegistry:
    folder: Path  # mlflow.db and artifacts/ of an `mlflow server` (artifacts proxied: clients fetch them over HTTP)
    result: Any  # the PipelineResult that made the champion


@dataclass(frozen=True)
class RegistryServer:
    url: str  # for the tests, on loopback
    container_url: str  # the same server as a container reaches it
    result: Any


def train_through_a_server(folder: Path) -> ServedRegistry:
    with mlflow_server(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts") as url:
        result = run_pipeline(fast_settings(folder, tracking_uri=url))
    assert result.promoted
    return ServedRegistry(folder, result)
