"""One way to retrain: `churnops pipeline --json` in a child process, on the configured data, through the gate.

The API's retraining jobs (`serving/jobs.py`) and monitoring's automatic retraining
(`monitoring/retraining.py`) both run it here; the training flow runs the same steps as Prefect
tasks and applies the same checks (`retraining_settings`). A child process keeps the search's CPU
work and memory out of the caller, and it runs exactly what the CLI runs.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404  # our own interpreter and CLI, with an argument list, never a shell
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlflow.tracking import MlflowClient

from churnops import registry
from churnops.data.sources import DATA_CACHE
from churnops.errors import ChurnopsError, ConfigError
from churnops.model import churn_model
from churnops.settings import Settings

LOG_TAIL_LINES = 30


class RetrainingFailed(ChurnopsError):
    """The pipeline could not start, or it ended without a result; the message carries its last error line."""


@dataclass(frozen=True)
class Retrained:
    """What `churnops pipeline --json` reported: the new version and the gate's decision."""

    version: str
    promoted: bool
    reasons: list[str]
    champion_version: str | None
    training_run_id: str
    summary: dict[str, Any] = field(repr=False)


def check_retraining_source(settings: Settings, client: MlflowClient) -> None:
    """Retraining (API, monitoring, flows) trains on the configured data. Without any, it would train on the
    built-in synthetic data, which may only replace a champion that was trained on synthetic data too."""
    if settings.data is not None:
        return
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None or registry.version_data_kind(client, champion) == "synthetic":
        return
    source = champion.tags.get("data_source") or "real data"
    raise ConfigError(
        f"No training data is configured (CHURNOPS_DATA), and champion v{champion.version} of '{settings.model_name}' was trained on "
        f"{source}: retraining on the built-in synthetic data could never replace it. Set CHURNOPS_DATA to the data to retrain on."
    )


def retraining_settings(settings: Settings, client: MlflowClient) -> Settings:
    """Settings for a retraining run: the configured data (checked), and the champion's own contract unless --dataset is set."""
    check_retraining_source(settings, client)
    if settings.dataset is not None:
        return settings
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is None:
        return settings
    destination = DATA_CACHE / "contracts" / f"{settings.model_name}-v{champion.version}.yaml"
    path = churn_model.save_version_contract(settings.model_name, str(champion.version), destination)
    return settings.model_copy(update={"dataset": path.resolve()})


def run_pipeline_process(
    settings: Settings,
    trials: int | None = None,
    on_line: Callable[[str], None] | None = None,
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
) -> Retrained:
    """Run `churnops pipeline --json` with exactly `settings` (as CHURNOPS_* variables) and wait for its result.

    `on_line` sees each line of its output as it comes; `on_start` gets the process (to stop it at shutdown).
    Raises RetrainingFailed when it cannot start or ends without a result.
    """
    command = [sys.executable, "-m", "churnops", "pipeline", "--json"]
    if trials:
        command += ["--trials", str(trials)]
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("CHURNOPS_")}, **settings.as_environment()}
    environment.pop("MLFLOW_RUN_ID", None)  # a caller inside an MLflow run must not make the child log into it
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    try:
        process = subprocess.Popen(  # noqa: S603  # nosec B603  # our own interpreter and CLI; an argument list, no shell
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
        )
    except (OSError, ValueError) as error:  # ValueError: an argument Popen refuses (a NUL byte)
        raise RetrainingFailed(f"could not start the pipeline: {error}") from None
    if on_start is not None:
        on_start(process)
    if process.stdout is None:  # cannot happen with stdout=PIPE; the check narrows the type
        raise RetrainingFailed("no pipe to the pipeline's output")
    for line in process.stdout:
        tail.append(line.rstrip())
        if on_line is not None:
            on_line(line.rstrip())
    returncode = process.wait()
    result = _last_json(tail)
    if returncode != 0 or result is None or "version" not in result:
        raise RetrainingFailed(_error_line(tail) or (result or {}).get("error") or f"pipeline exited with code {returncode}")
    return Retrained(
        version=str(result["version"]),
        promoted=bool(result.get("promoted")),
        reasons=list(result.get("reasons", [])),
        champion_version=None if result.get("champion_version") is None else str(result["champion_version"]),
        training_run_id=str(result.get("training_run_id", "")),
        summary=result,
    )


def _last_json(lines: deque[str]) -> dict[str, Any] | None:
    """`pipeline --json` ends with one JSON object on one line."""
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _error_line(lines: deque[str]) -> str | None:
    errors = [line for line in lines if line.startswith("error:")]
    return errors[-1] if errors else None
