"""Read-only views over tracked runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import mlflow

from churnops.errors import ChurnopsError
from churnops.settings import Settings
from churnops.tracking import connect


def top_runs(settings: Settings, experiment: str, metric: str, top: int, ascending: bool = False) -> list[dict[str, Any]]:
    """The `top` runs of `experiment` that logged `metric`, best first."""
    connect(settings)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise ChurnopsError(f"No experiment '{experiment}' in {settings.tracking_uri}. Run `churnops pipeline` first.")
    runs = mlflow.search_runs(
        [found.experiment_id],
        filter_string=f"metrics.`{metric}` > -1e300",
        order_by=[f"metrics.`{metric}` {'ASC' if ascending else 'DESC'}"],
        max_results=top,
        output_format="list",
    )
    return [
        {
            "run_id": run.info.run_id,
            "name": run.info.run_name or "",
            "kind": run.data.tags.get("churnops.kind", ""),
            metric: run.data.metrics[metric],
            "started": datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        }
        for run in runs
    ]
