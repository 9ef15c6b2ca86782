"""What the flows share: retry policy, progress in the run log, and the links between Prefect and MLflow."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from mlflow.entities import RunTag
from prefect import Task, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import flow_run

from churnops.errors import StoreError, TrackingServerError
from churnops.settings import Settings
from churnops.tracking import connect

# Failures that a later attempt can cure. Bad data, bad settings or a rejected model cannot, so they fail at once.
TRANSIENT_ERRORS = (TrackingServerError, StoreError, ConnectionError, TimeoutError)
RETRIES = 2
RETRY_DELAYS_SECONDS: list[float] = [10, 60]


def retry_on_transient_errors(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect `retry_condition_fn`: retry only when the task failed on an unreachable server."""
    try:
        state.result(raise_on_failure=True)
    except TRANSIENT_ERRORS:
        return True
    except Exception:  # noqa: BLE001 - any other failure is final
        return False
    return False


class RunLogProgress:
    """The steps' progress callbacks, written to the flow run's log (shown in the Prefect UI)."""

    def __init__(self) -> None:
        self.log = get_run_logger()

    def step(self, name: str) -> None:
        self.log.info("step: %s", name)

    def trial(self, done: int, total: int, score: float, best: float) -> None:
        self.log.info("search trial %d/%d: CV ROC AUC %.4f (best %.4f)", done, total, score, best)

    def rows(self, done: int, total: int, unit: str = "customers") -> None:
        self.log.info("done %d/%d %s", done, total, unit)


@task(name="link MLflow runs", cache_policy=NO_CACHE, retries=RETRIES, retry_delay_seconds=RETRY_DELAYS_SECONDS)
def link_mlflow_runs(settings: Settings, mlflow_runs: Mapping[str, str], with_children: bool = False) -> None:
    """Tag the flow run with `mlflow.<kind>:<run id>` and each MLflow run (and its nested runs) with the flow run."""
    flow_run_id = flow_run.get_id()
    if flow_run_id is None:  # called outside a flow run
        return
    client = connect(settings)
    run_ids = list(mlflow_runs.values())
    if with_children:
        for parent in mlflow_runs.values():
            experiment_id = client.get_run(parent).info.experiment_id
            nested = client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'", max_results=1000)
            run_ids += [run.info.run_id for run in nested]
    tags = {
        "prefect.flow_run_id": flow_run_id,
        "prefect.flow_run_name": flow_run.get_name() or "",
        "prefect.flow_name": flow_run.get_flow_name() or "",
    }
    if url := flow_run.get_flow_run_ui_url():
        tags["prefect.flow_run_url"] = url
    for run_id in run_ids:
        client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])
    with get_client(sync_client=True) as prefect:
        current = prefect.read_flow_run(UUID(flow_run_id))
        links = {f"mlflow.{kind}:{run_id}" for kind, run_id in mlflow_runs.items()}
        prefect.update_flow_run(UUID(flow_run_id), tags=sorted(set(current.tags) | links))


@task(name="publish summary", cache_policy=NO_CACHE)
def publish_summary(key: str, title: str, summary: Mapping[str, Any]) -> None:
    """The run's summary as a markdown artifact (Prefect UI, Artifacts tab) and in the run log."""
    rows = "\n".join(f"| {name} | {_cell(value)} |" for name, value in summary.items())
    create_markdown_artifact(f"# {title}\n\n| field | value |\n|---|---|\n{rows}\n", key=key, description=title)
    get_run_logger().info("%s: %s", title, json.dumps(summary, default=str))


def _cell(value: Any) -> str:
    text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")
