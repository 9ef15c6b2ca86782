"""The pipeline over HTTP against a real `mlflow server` process backed by the local PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pytest

from churnops import registry
from churnops.errors import TrackingServerError
from churnops.tracking import connect
from churnops.training.pipeline import prepare, run_pipeline
from tests.support.databases import postgres_available, scratch_database
from tests.support.prerequisites import require
from tests.support.servers import free_port, mlflow_server
from tests.support.settings import fast_settings

pytestmark = pytest.mark.integration


def test_pipeline_against_mlflow_server_with_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require(postgres_available(), "PostgreSQL not reachable at 127.0.0.1:5432")
    monkeypatch.chdir(tmp_path)
    with scratch_database() as database_url, mlflow_server(database_url, tmp_path / "served-artifacts") as url:
        settings = fast_settings(tmp_path, tracking_uri=url)
        result = run_pipeline(settings)
        assert result.promoted and result.version == "1"

        client = connect(settings)
        assert registry.alias_version(client, settings.model_name, "champion") == "1"
        # Artifacts went through the server into its artifact store, not into the client's folder.
        assert list((tmp_path / "served-artifacts").rglob("model.onnx"))
        assert not (tmp_path / "mlartifacts").exists()

        model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@champion")
        rows = prepare(settings).split.test.features.head(5)
        predicted = model.predict(rows)
        assert list(predicted.columns) == ["churn_probability", "churn"] and len(predicted) == 5
        assert np.all((predicted["churn_probability"] >= 0) & (predicted["churn_probability"] <= 1))

        second = run_pipeline(settings)
        assert second.version == "2"
        assert registry.alias_version(client, settings.model_name, "challenger") == "2"
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def test_unreachable_tracking_server_is_a_clear_error(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, tracking_uri=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TrackingServerError, match="not reachable"):
        connect(settings)
