"""`churnops schedule`: the three flows as cron-scheduled Prefect deployments.

Two ways to run them:

* served (default): this process registers the deployments and runs their flow runs itself
  (`prefect.serve`). With no Prefect server configured (PREFECT_API_URL unset) it starts a local
  one (`prefect server start`, analytics off) and stops it on exit.
* on a work pool (`--work-pool NAME`): the deployments are registered on a Prefect server and a
  worker of that pool (`prefect worker start --pool NAME`, or a container platform) runs them.
"""

from __future__ import annotations

import logging
import os
import subprocess  # nosec B404  # starts `prefect server start` with our own interpreter, an argument list, no shell
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import httpx
from prefect import Flow, deploy, serve
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, temporary_settings

from churnops.errors import ConfigError
from churnops.flows.batch_scoring import batch_scoring_flow
from churnops.flows.monitoring import monitoring_flow
from churnops.flows.training import training_flow
from churnops.settings import ScheduleSettings, group_variable

log = logging.getLogger("churnops.schedule")

LOCAL_SERVER_LOG = Path(".churnops") / "prefect-server.log"
SERVER_START_SECONDS = 90.0


@dataclass(frozen=True)
class ScheduledFlow:
    flow: Flow[..., Any]
    deployment: str
    cron_setting: str  # the ScheduleSettings field holding its cron expression
    parameters: dict[str, Any]

    def cron(self, schedule: ScheduleSettings) -> str | None:
        return getattr(schedule, self.cron_setting)

    @property
    def variable(self) -> str:
        return group_variable(ScheduleSettings, self.cron_setting)


def scheduled_flows(schedule: ScheduleSettings) -> list[ScheduledFlow]:
    """Daily training, hourly monitoring (over the last `monitoring_window`), nightly batch scoring."""
    return [
        ScheduledFlow(training_flow, "daily-training", "training_cron", {}),
        ScheduledFlow(monitoring_flow, "hourly-monitoring", "monitoring_cron", {"window": schedule.monitoring_window}),
        ScheduledFlow(batch_scoring_flow, "nightly-batch-scoring", "batch_scoring_cron", {}),
    ]


def build_deployments(schedule: ScheduleSettings, work_pool: str | None = None) -> list[RunnerDeployment]:
    """One deployment per flow whose cron is set; a bad cron or time zone is a ConfigError naming the setting."""
    deployments: list[RunnerDeployment] = []
    for scheduled in scheduled_flows(schedule):
        cron = scheduled.cron(schedule)
        if not cron:
            log.info("%s is empty: no %s deployment", scheduled.variable, scheduled.deployment)
            continue
        try:
            cron_schedule = Cron(cron, timezone=schedule.timezone)
        except ValueError as error:
            raise ConfigError(
                f"{scheduled.variable}={cron!r} (time zone {schedule.timezone!r}) is not a valid schedule: "
                f"{_first_line(error)}. Use five cron fields, e.g. '0 2 * * *' for 02:00 daily, or an empty value to disable it."
            ) from None
        deployment = scheduled.flow.to_deployment(
            name=scheduled.deployment,
            schedule=cron_schedule,
            parameters=scheduled.parameters,
            tags=["churnops"],
            description=scheduled.flow.description,
            work_pool_name=work_pool,
            entrypoint_type=EntrypointType.MODULE_PATH,  # runs from the installed package, wherever the worker is
        )
        # to_deployment and deploy are "sync compatible": called outside an event loop they return the value itself.
        deployments.append(cast(RunnerDeployment, deployment))
    if not deployments:
        raise ConfigError("Every schedule is disabled (CHURNOPS_SCHEDULE_*_CRON are empty): nothing to schedule.")
    return deployments


def serve_schedules(deployments: list[RunnerDeployment], prefect_port: int = 4200) -> None:
    """Register the deployments and run their flow runs in this process until Ctrl+C."""
    with prefect_api(prefect_port):
        serve(*deployments)


def deploy_to_work_pool(schedule: ScheduleSettings, work_pool: str) -> list[UUID]:
    """Register the deployments on the configured Prefect server's work pool; its workers run them."""
    if not os.environ.get("PREFECT_API_URL") and not _configured_api_url():
        raise ConfigError("--work-pool needs a Prefect server: set PREFECT_API_URL (e.g. http://prefect:4200/api).")
    deployments = build_deployments(schedule, work_pool)
    return cast(list[UUID], deploy(*deployments, work_pool_name=work_pool, build=False, push=False, print_next_steps_message=False))


@contextmanager
def prefect_api(port: int) -> Iterator[str]:
    """The configured Prefect API, or a local `prefect server start` for as long as the context lasts."""
    configured = os.environ.get("PREFECT_API_URL") or _configured_api_url()
    if configured:
        _wait_until_healthy(configured, 10.0, "the Prefect server at PREFECT_API_URL")
        yield configured
        return
    url = f"http://127.0.0.1:{port}/api"
    if _healthy(url):  # a local server from an earlier `churnops schedule` or `prefect server start`
        with _api_url(url):
            yield url
        return
    LOCAL_SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    print(f"starting a local Prefect server on http://127.0.0.1:{port} (log: {LOCAL_SERVER_LOG})", flush=True)
    with LOCAL_SERVER_LOG.open("ab") as server_log:
        server = subprocess.Popen(command, stdout=server_log, stderr=subprocess.STDOUT, env=environment)  # noqa: S603  # nosec B603  # our interpreter
    try:
        _wait_until_healthy(url, SERVER_START_SECONDS, f"the local Prefect server (see {LOCAL_SERVER_LOG})", server)
        with _api_url(url):
            yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


@contextmanager
def _api_url(url: str) -> Iterator[None]:
    """Point this process (and the flow-run processes it starts) at `url`."""
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


def _configured_api_url() -> str | None:
    return PREFECT_API_URL.value() or None


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=2.0).status_code == httpx.codes.OK
    except httpx.HTTPError:
        return False


def _wait_until_healthy(api_url: str, seconds: float, what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _healthy(api_url):
            return
        if process is not None and process.poll() is not None:
            raise ConfigError(f"{what} exited with code {process.returncode} before it answered on {api_url}.")
        time.sleep(0.5)
    raise ConfigError(f"{what} did not answer on {api_url}/health within {seconds:.0f} s. Check that it runs and the URL is right.")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
