"""Recent analysis traces from MLflow, failures first of interest: what `churnops comments traces` prints."""

from __future__ import annotations

from typing import Any

import mlflow

from churnops.settings import Settings
from churnops.tracking import connect


def recent_traces(settings: Settings, *, failed_only: bool = True, limit: int = 20) -> list[dict[str, Any]]:
    """The newest analysis traces (only failed ones by default): when, status, prompt version, error, comment."""
    connect(settings)
    experiment = mlflow.get_experiment_by_name(settings.comments.experiment)
    if experiment is None:
        return []
    mlflow.flush_trace_async_logging()  # traces of this process may still be on their way
    filters = ["trace.name = 'analyze_comment'"] + (["trace.status = 'ERROR'"] if failed_only else [])
    traces = mlflow.search_traces(
        locations=[experiment.experiment_id],
        filter_string=" AND ".join(filters),
        max_results=limit,
        order_by=["timestamp_ms DESC"],
        return_type="list",
    )
    rows = []
    for trace in traces:
        root = next((span for span in trace.data.spans if span.parent_id is None), None)
        inputs = (root.inputs if root else None) or {}
        outputs = (root.outputs if root else None) or {}
        attributes = (root.attributes if root else None) or {}
        rows.append(
            {
                "trace_id": trace.info.trace_id,
                "at": trace.info.request_time,
                "status": str(getattr(trace.info.state, "value", trace.info.state)),
                "duration_ms": trace.info.execution_duration,
                "prompt_version": attributes.get("prompt_version"),
                "attempts": attributes.get("attempts"),
                "comment_id": inputs.get("comment_id"),
                "text": str(inputs.get("text", "")),
                "error": outputs.get("error") if isinstance(outputs, dict) else None,
            }
        )
    return rows
