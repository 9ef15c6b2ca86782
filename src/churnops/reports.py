"""Read-only views over tracked runs and registered versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from churnops import registry
from churnops.errors import ChurnopsError, RegistryError
from churnops.settings import Settings
from churnops.tracking import connect


def _utc(milliseconds: int | None) -> str:
    return "" if milliseconds is None else datetime.fromtimestamp(milliseconds / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def top_runs(
    settings: Settings, experiment: str, metric: str, top: int, ascending: bool = False, include_trials: bool = False
) -> list[dict[str, Any]]:
    """The `top` runs of `experiment` that logged `metric`, best first; top-level runs only unless `include_trials`.

    Optuna trials are nested runs (tag mlflow.parentRunId, churnops.kind=search-trial): dozens per training run.
    """
    connect(settings)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise ChurnopsError(f"No experiment '{experiment}' in {settings.tracking_uri}. Run `churnops pipeline` first.")
    filters = [f"metrics.`{metric}` > -1e300"]
    if not include_trials:
        filters.append("tags.mlflow.parentRunId IS NULL")
    runs = mlflow.search_runs(
        [found.experiment_id],
        filter_string=" and ".join(filters),
        order_by=[f"metrics.`{metric}` {'ASC' if ascending else 'DESC'}"],
        max_results=top,
        output_format="list",
    )
    return [
        {
            "run_id": run.info.run_id,
            "name": run.info.run_name or "",
            "kind": run.data.tags.get("churnops.kind", ""),
            "parent_run_id": run.data.tags.get("mlflow.parentRunId"),
            metric: run.data.metrics[metric],
            "started": _utc(run.info.start_time),
        }
        for run in runs
    ]


def model_versions(settings: Settings, limit: int | None = None) -> list[dict[str, Any]]:
    """The registered model's versions, newest first: aliases, test metrics, data source, gate decision, promotion."""
    client = connect(settings)
    name = settings.model_name
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        raise RegistryError(f"Model '{name}' is not registered yet in {settings.tracking_uri}; run `churnops pipeline` first.") from error
    aliases: dict[str, list[str]] = {}
    for alias, number in (model.aliases or {}).items():
        aliases.setdefault(str(number), []).append(alias)
    found = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda item: int(item.version), reverse=True)
    return [_version_row(client, item, aliases.get(str(item.version), [])) for item in found[:limit]]


def _version_row(client: Any, item: Any, aliases: list[str]) -> dict[str, Any]:
    tags = dict(item.tags or {})
    return {
        "version": str(item.version),
        "aliases": sorted(aliases),
        "created": _utc(item.creation_timestamp),
        "family": tags.get("family"),
        "test_roc_auc": _number(tags.get("test_roc_auc")),
        "test_pr_auc": _number(tags.get("test_pr_auc")),
        "data_source": tags.get("data_source") or _run_param(client, tags.get("training_run_id") or item.run_id, "data_source"),
        "data_fingerprint": tags.get("data_fingerprint"),
        "gate_decision": tags.get("gate_decision"),
        "gate_reasons": tags.get("gate_reasons"),
        "promotion": tags.get("promotion"),  # gate or forced, when it was ever champion
        "promoted_at": tags.get("promoted_at"),
        "promotion_reasons": tags.get("promotion_reasons"),
        "rolled_back_at": tags.get("rolled_back_at"),
        "training_run_id": tags.get("training_run_id") or item.run_id,
        "evaluation_run_id": tags.get("evaluation_run_id"),
        "training_key": tags.get("training_key"),
    }


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _run_param(client: Any, run_id: str | None, key: str) -> str | None:
    """Versions registered before the data_source tag existed: the training run's parameter."""
    if not run_id:
        return None
    try:
        return client.get_run(run_id).data.params.get(key)
    except MlflowException:
        return None


def mlflow_links(settings: Settings, ui_url: str) -> dict[str, Any]:
    """Direct MLflow UI links (the MLflow 3 UI otherwise opens on an empty GenAI overview): training runs, the champion's runs, the model."""
    client = connect(settings)
    base = ui_url.rstrip("/")
    links: dict[str, Any] = {"ui": base, "model": f"{base}/#/models/{settings.model_name}"}
    experiment = mlflow.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        links["experiment_id"] = str(experiment.experiment_id)
        links["training_runs"] = f"{base}/#/experiments/{experiment.experiment_id}/runs"
    champion = registry.version_by_alias(client, settings.model_name, registry.CHAMPION)
    if champion is not None:
        version = str(champion.version)
        links["champion_version"] = version
        links["champion_version_page"] = f"{base}/#/models/{settings.model_name}/versions/{version}"
        for kind in ("training", "evaluation"):
            run_id = (champion.tags or {}).get(f"{kind}_run_id")
            if run_id:
                experiment_id = client.get_run(run_id).info.experiment_id
                links[f"champion_{kind}_run_id"] = run_id
                links[f"champion_{kind}_run"] = f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
    return links
