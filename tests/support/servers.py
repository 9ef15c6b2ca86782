"""Real server processes for tests and benchmarks: `mlflow server`, `churnops serve`, `churnops llm serve`, Prometheus, on free local ports.

The scratch PostgreSQL database is in tests/support/databases.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from churnops.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path, timeout: float = 120.0, host: str = "127.0.0.1") -> Iterator[str]:
    """`mlflow server` with artifact serving on; yields its (loopback) URL once /health answers.

    host="0.0.0.0" also lets containers reach it (through host.containers.internal)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts.as_uri(),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if host != "127.0.0.1":  # MLflow 3 refuses requests whose Host header is not a loopback name unless told
        command += ["--allowed-hosts", "*"]
    # Its job runner (six worker processes) serves GenAI jobs no test uses, and slows the start on a busy machine.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with server_process(command, port, artifacts.parent / "mlflow-server.log", timeout, stop_timeout=20, env=env) as url:
        yield url


@contextmanager
def churnops_api(settings: Settings, log: Path, timeout: float = 120.0, workers: int = 1) -> Iterator[str]:
    """`churnops serve` with exactly `settings`, as a real uvicorn process; yields its URL once /health answers. Stopped with SIGTERM (graceful)."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHURNOPS_")}, **settings.as_environment()}
    command = [sys.executable, "-m", "churnops", "serve", "--port", str(port), "--workers", str(workers)]
    with server_process(command, port, log, timeout, stop_timeout=60, env=env) as url:
        yield url


@contextmanager
def killable_churnops_api(settings: Settings, log: Path, timeout: float = 120.0, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`churnops serve` in its own process group, for crash tests: yields (URL, process) once /health answers.

    Kill it with `os.killpg(process.pid, signal.SIGKILL)` (every worker with it); whatever is left is killed at the end."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHURNOPS_")}, **settings.as_environment()}
    command = [sys.executable, "-m", "churnops", "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=log.parent, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(url + "/health", process, log, timeout, " ".join(command[:4]))
            yield url, process
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)


def kill_group(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGKILL a `killable_churnops_api` process and its workers; return once none of them runs any more.

    Waiting for the parent is not enough: on a loaded machine a worker may still be exiting (holding its
    write-ahead log's lock) when the parent is already reaped."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while _group_members(process.pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of group {process.pid} still run {timeout:.0f} s after SIGKILL: {_group_members(process.pid)}")
        time.sleep(0.05)


def _group_members(group: int) -> list[int]:
    """Processes of a process group that have not finished exiting.

    A process has released its files (and their locks) once every one of its threads is a zombie: its main thread
    alone may be one while another thread is still leaving an fsync."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields and int(fields[2]) == group and any(_stat_fields(task)[:1] not in ([], ["Z"]) for task in stat.parent.glob("task/*/stat")):
            members.append(int(stat.parent.name))
    return members


def _stat_fields(stat: Path) -> list[str]:
    """The fields of a /proc stat file after the command name (state, ppid, pgrp, ...); [] if it is gone."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


# One llama.cpp thread: the suite runs in parallel, and llama.cpp's threads wait for each other by spinning, so two
# of them beside another busy process are several times slower than one (measured: 3.6 s vs 2.5 s per analysis).
TEST_THREADS = ("--threads", "1")


@dataclass(frozen=True)
class RunningLlm:
    url: str
    log: Path  # the server's output: what it logged about each request


@contextmanager
def llm_server(log: Path, *arguments: str, timeout: float = 60.0) -> Iterator[str]:
    """`churnops llm serve` (the packaged SmolLM2 unless `arguments` say otherwise) as a real process on a free port;
    yields its URL once /api/version answers. No CHURNOPS_* or OLLAMA_* variable of the caller reaches it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURNOPS_", "OLLAMA_"))}
    command = [sys.executable, "-m", "churnops", "llm", "serve", "--port", str(port), *arguments]
    with server_process(command, port, log, timeout, stop_timeout=20, env=env, health="/api/version") as url:
        yield url


@contextmanager
def server_process(
    command: list[str], port: int, log: Path, timeout: float, stop_timeout: float, env: dict[str, str] | None = None, health: str = "/health"
) -> Iterator[str]:
    """Start `command`, wait until its `health` path answers, yield its URL; SIGTERM (then SIGKILL) at the end."""
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(url + health, process, log, timeout, " ".join(command[:4]))
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer within {timeout}s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.2)


@contextmanager
def prometheus_server(config: Path, log: Path, timeout: float = 60.0) -> Iterator[str]:
    """Debian's `prometheus` with `config` and a private data folder; yields its URL once /-/ready answers."""
    port = free_port()
    command = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={config.parent / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with server_process(command, port, log, timeout, stop_timeout=30, health="/-/ready") as url:
        yield url
