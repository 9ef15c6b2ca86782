"""CPU, memory and network of every running container, for Prometheus, from the Docker Engine API.

cAdvisor reads these numbers from the host's cgroups and needs Docker's layout of them; where it
cannot run (podman, whose `podman system service` answers the same Engine API), this exporter reads
each container's stats from the API and serves them under cAdvisor's metric names and labels, so
the same queries work with either:

    container_cpu_usage_seconds_total      counter  CPU time of the container's processes
    container_memory_usage_bytes           gauge    memory charged to the container
    container_spec_memory_limit_bytes      gauge    its memory limit (the host's memory when unlimited)
    container_network_receive_bytes_total  counter  bytes received (all interfaces)
    container_network_transmit_bytes_total counter  bytes sent
    container_pids                         gauge    processes and threads

with the labels `id`, `name`, `image` and the compose labels as cAdvisor writes them
(`container_label_com_docker_compose_project`, `container_label_com_docker_compose_service`).
`/health` answers 200 while the Engine API answers. Standard library only: it runs in any image
with Python 3 (the stack runs it in the jobs image):

    python3 exporter.py --socket /var/run/docker.sock --port 9338
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

API_VERSION = "v1.41"  # the Engine API version podman 4 and Docker 20.10+ both answer
COMPOSE_LABELS = ("com.docker.compose.project", "com.docker.compose.service")
# (name, type, help): cAdvisor's names, so its queries and dashboards work unchanged
METRICS: tuple[tuple[str, str, str], ...] = (
    ("container_cpu_usage_seconds_total", "counter", "Cumulative CPU time consumed in seconds."),
    ("container_memory_usage_bytes", "gauge", "Current memory usage in bytes."),
    ("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container in bytes."),
    ("container_network_receive_bytes_total", "counter", "Cumulative count of bytes received."),
    ("container_network_transmit_bytes_total", "counter", "Cumulative count of bytes transmitted."),
    ("container_pids", "gauge", "Number of processes and threads in the container."),
)


class EngineError(Exception):
    """The Engine API did not answer, or answered with an error."""


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the engine's Unix socket."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(self.timeout)
        connection.connect(self.socket_path)
        self.sock = connection


@dataclass
class Engine:
    socket_path: str
    timeout: float = 10.0

    def get(self, path: str) -> Any:
        connection = UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            connection.request("GET", f"/{API_VERSION}{path}")
            response = connection.getresponse()
            body = response.read()
        except OSError as error:
            raise EngineError(f"the Engine API at {self.socket_path} did not answer: {error}") from error
        finally:
            connection.close()
        if response.status != http.HTTPStatus.OK:
            raise EngineError(f"GET {path}: HTTP {response.status} {body[:200]!r}")
        return json.loads(body)


@dataclass
class Sample:
    labels: dict[str, str]
    values: dict[str, float] = field(default_factory=dict)


def container_labels(container: dict[str, Any]) -> dict[str, str]:
    labels = {
        "id": container["Id"],
        "name": (container.get("Names") or ["/" + container["Id"][:12]])[0].lstrip("/"),
        "image": container.get("Image", ""),
    }
    for label in COMPOSE_LABELS:
        value = (container.get("Labels") or {}).get(label)
        if value:
            labels["container_label_" + label.replace(".", "_")] = value
    return labels


def sample_values(stats: dict[str, Any]) -> dict[str, float]:
    """One container's stats (GET /containers/{id}/stats) as the exported values."""
    values: dict[str, float] = {}
    cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    if "total_usage" in cpu:
        values["container_cpu_usage_seconds_total"] = cpu["total_usage"] / 1e9  # nanoseconds
    memory = stats.get("memory_stats") or {}
    if "usage" in memory:
        values["container_memory_usage_bytes"] = float(memory["usage"])
    if memory.get("limit"):
        values["container_spec_memory_limit_bytes"] = float(memory["limit"])
    networks = (stats.get("networks") or {}).values()
    if networks:
        values["container_network_receive_bytes_total"] = float(sum(n.get("rx_bytes", 0) for n in networks))
        values["container_network_transmit_bytes_total"] = float(sum(n.get("tx_bytes", 0) for n in networks))
    pids = (stats.get("pids_stats") or {}).get("current")
    if pids is not None:
        values["container_pids"] = float(pids)
    return values


def collect(engine: Engine, workers: int = 4) -> list[Sample]:
    """Every running container's stats: one request each (one-shot: no second sample to compute rates)."""
    containers = engine.get("/containers/json")

    def one(container: dict[str, Any]) -> Sample | None:
        try:
            stats = engine.get(f"/containers/{quote(container['Id'])}/stats?stream=false&one-shot=true")
        except EngineError:
            return None  # it stopped between the list and its stats
        return Sample(container_labels(container), sample_values(stats))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [sample for sample in pool.map(one, containers) if sample is not None]


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(samples: Iterable[Sample], scrape_seconds: float, up: bool) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    samples = list(samples)
    lines: list[str] = []
    for name, kind, description in METRICS:
        lines += [f"# HELP {name} {description}", f"# TYPE {name} {kind}"]
        for sample in samples:
            if name in sample.values:
                labels = ",".join(f'{key}="{escape(value)}"' for key, value in sorted(sample.labels.items()))
                lines.append(f"{name}{{{labels}}} {sample.values[name]!r}")
    lines += [
        "# HELP container_metrics_engine_up Whether the last read of the Engine API succeeded.",
        "# TYPE container_metrics_engine_up gauge",
        f"container_metrics_engine_up {int(up)}",
        "# HELP container_metrics_containers Running containers seen in the last read.",
        "# TYPE container_metrics_containers gauge",
        f"container_metrics_containers {len(samples)}",
        "# HELP container_metrics_read_seconds How long the last read of every container's stats took.",
        "# TYPE container_metrics_read_seconds gauge",
        f"container_metrics_read_seconds {scrape_seconds:.6f}",
    ]
    return "\n".join(lines) + "\n"


class Collector:
    """Reads the engine at most every `min_interval` seconds, however often it is scraped."""

    def __init__(self, engine: Engine, min_interval: float) -> None:
        self.engine = engine
        self.min_interval = min_interval
        self.lock = threading.Lock()
        self.read_at = 0.0
        self.text = render([], 0.0, up=False)
        self.up = False
        self.error = "not read yet"

    def metrics(self) -> str:
        with self.lock:
            if time.monotonic() - self.read_at >= self.min_interval:
                started = time.monotonic()
                try:
                    samples = collect(self.engine)
                    self.up, self.error = True, ""
                except EngineError as error:
                    samples, self.up, self.error = [], False, str(error)
                    print(f"container-metrics: {error}", file=sys.stderr, flush=True)
                self.read_at = time.monotonic()
                self.text = render(samples, self.read_at - started, self.up)
            return self.text


def handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path.split("?", 1)[0] == "/metrics":
                self.answer(200, collector.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif self.path == "/health":
                collector.metrics()
                self.answer(200 if collector.up else 503, "ok\n" if collector.up else collector.error + "\n", "text/plain")
            else:
                self.answer(404, "not found: /metrics, /health\n", "text/plain")

        def answer(self, status: int, text: str, content_type: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            """No line per scrape."""

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", default="/var/run/docker.sock", help="the Engine API's Unix socket (Docker, or podman system service)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104 - inside its container
    parser.add_argument("--port", type=int, default=9338)
    parser.add_argument("--min-interval", type=float, default=5.0, help="read the engine at most this often (seconds)")
    args = parser.parse_args(argv)
    collector = Collector(Engine(args.socket), args.min_interval)
    server = ThreadingHTTPServer((args.host, args.port), handler(collector))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 in its container: stop at once on `docker stop`
    print(f"container-metrics: serving http://{args.host}:{args.port}/metrics from {args.socket}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # Ctrl+C
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
