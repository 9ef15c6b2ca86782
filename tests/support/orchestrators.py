"""What the Dagster and Airflow tests check after a run: a gated champion in the registry, the batch in the store."""

from __future__ import annotations

import os

import sqlalchemy as sa
from mlflow import MlflowClient

from churnops.registry import CHAMPION
from churnops.settings import Settings

TELCO_ROWS = 7043


def settings_environment(settings: Settings) -> dict[str, str]:
    """This process's environment without its CHURNOPS_* variables, and `settings` as CHURNOPS_* variables instead."""
    return {key: value for key, value in os.environ.items() if not key.startswith("CHURNOPS_")} | settings.as_environment()


def assert_gated_champion(settings: Settings) -> str:
    """The registry's @champion exists and was promoted by the gate (its decision and reasons tagged); returns its version."""
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    champion = client.get_model_version_by_alias(settings.model_name, CHAMPION)
    assert champion.tags["gate_decision"] == "promote", champion.tags
    assert champion.tags["gate_reasons"], "the gate records why it promoted"
    assert champion.tags["evaluation_set_fingerprint"] and champion.tags["training_run_id"]
    gate_runs = client.search_runs(
        [client.get_experiment_by_name(settings.experiment_name).experiment_id],
        filter_string=f"tags.`churnops.kind` = 'gate' and tags.model_version = '{champion.version}' and tags.decision = 'promote'",
    )
    assert gate_runs, "the gate's decision is an MLflow run"
    return str(champion.version)


def stored_predictions(settings: Settings) -> dict[str, int]:
    """Predictions in the store by request id (a batch-scoring run's id), batch scoring's only."""
    engine = sa.create_engine(settings.store.url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT request_id, count(*) FROM predictions WHERE endpoint = 'batch-scoring' GROUP BY request_id")).all()
    engine.dispose()
    return {str(request_id): int(count) for request_id, count in rows}
