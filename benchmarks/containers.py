"""Container images: size of each image, and the API's time from start to a ready /ready, in a container
(`podman run`) beside the same `churnops serve` started as a plain process on this machine, same champion,
same MLflow server, in one run (the ratio is the container's cost on a noisy machine).

    uv run python benchmarks/containers.py            # builds the images on the local base if needed
    uv run python benchmarks/containers.py --starts 5

Needs podman, runc and debootstrap (root), like the container tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.containers import (  # noqa: E402  (shared with the tests)
    HOST_FROM_CONTAINER,
    LOCAL_BASE,
    engine_environment,
    podman,
    train_through_a_server,
    wait_for_http,
)
from tests.support.servers import free_port, mlflow_server  # noqa: E402

TARGET_API_IMAGE_MB = 600


def ensure_images() -> None:
    for command in (["base", "--name", LOCAL_BASE], ["build", "--base-image", LOCAL_BASE]):
        subprocess.run([sys.executable, str(ROOT / "scripts" / "images.py"), *command], env=engine_environment(), check=True)  # noqa: S603


def image_mb(name: str) -> float:
    return int(podman("image", "inspect", "--format", "{{.Size}}", name).stdout) / 1e6


def container_start(tracking_uri: str, model_name: str) -> float:
    port = free_port()
    name = f"churnops-bench-{port}"
    started = time.monotonic()
    podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", "-e", f"CHURNOPS_TRACKING_URI={tracking_uri}",
           "-e", f"CHURNOPS_MODEL_NAME={model_name}", "localhost/churnops-api:latest")  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=300, container=name)
        return time.monotonic() - started
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)


def process_start(tracking_uri: str, model_name: str, folder: Path) -> float:
    port = free_port()
    environment = {**os.environ, "CHURNOPS_TRACKING_URI": tracking_uri, "CHURNOPS_MODEL_NAME": model_name}
    environment["CHURNOPS_STORE_URL"] = f"sqlite:///{folder / f'predictions-{port}.db'}"
    started = time.monotonic()
    with (folder / "serve.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "churnops", "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=300)
        return time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="starts of each kind (the median is reported)")
    args = parser.parse_args()
    ensure_images()
    sizes = {image: image_mb(f"localhost/churnops-{image}:latest") for image in ("api", "jobs")}
    base_mb = image_mb(LOCAL_BASE)
    with tempfile.TemporaryDirectory(prefix="churnops-bench-") as scratch:
        folder = Path(scratch)
        print("training a champion through an MLflow server ...", flush=True)
        registry = train_through_a_server(folder)
        model_name = registry.result.model_name
        with mlflow_server(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts", host="0.0.0.0") as url:  # noqa: S104
            processes, containers = [], []
            for _ in range(args.starts):  # interleaved, so both kinds see the same machine load
                processes.append(process_start(url, model_name, folder))
                containers.append(container_start(url.replace("127.0.0.1", HOST_FROM_CONTAINER), model_name))
    process_s, container_s = statistics.median(processes), statistics.median(containers)
    print()
    print(f"image sizes: churnops-api {sizes['api']:.0f} MB (target < {TARGET_API_IMAGE_MB} MB; base {base_mb:.0f} MB)")
    print(f"             churnops-jobs {sizes['jobs']:.0f} MB")
    print(f"start to /ready, median of {args.starts}: container {container_s:.1f} s, plain process {process_s:.1f} s")
    print(f"  ratio container / process: {container_s / process_s:.2f}x")
    print(f"  containers: {', '.join(f'{s:.1f}' for s in containers)} s; processes: {', '.join(f'{s:.1f}' for s in processes)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
