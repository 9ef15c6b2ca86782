"""`churnops score --engine spark` in local mode on the real Telco rows: every row scored as the API scores it, the
store's rows as the local engine's (PostgreSQL over JDBC, SQLite through the driver), a bad file told as the local engine tells it.

One Spark session for the module (starting a JVM costs 10-30 s here); the bad-file test runs the real command in a child
process, because the Java stack trace it must not print goes to the JVM's own stderr.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from churnops.batch_scoring import score_batch
from churnops.data.loading import load_customers
from churnops.errors import DataError
from churnops.model.served import load_served_model, served_version
from churnops.tracking import connect
from tests.support.cli import churnops_command
from tests.support.databases import postgres_available, scratch_database
from tests.support.prerequisites import require
from tests.support.registries import TelcoRegistry
from tests.support.settings import api_settings

pytestmark = pytest.mark.slow

COPIES = 8  # 8 x 7043 = 56,344 customers
JDBC_JAR = Path("/usr/share/java/postgresql.jar")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    require(importlib.util.find_spec("pyspark") is not None, "pyspark is not installed: uv sync --extra spark")
    require(shutil.which("java") is not None, "no Java on PATH: make system-deps installs OpenJDK 17")
    from churnops.spark.scoring import spark_session  # noqa: PLC0415 - pyspark only once it is known to be there

    session = spark_session("local[2]", [JDBC_JAR])
    yield session
    session.stop()


@pytest.fixture(scope="module")
def many_customers(telco_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real rows, COPIES times over, each copy with new customer ids."""
    frame = pd.concat([telco_frame.assign(customerID=telco_frame["customerID"] + f"-{copy}") for copy in range(COPIES)], ignore_index=True)
    path = tmp_path_factory.mktemp("spark-input") / "customers.csv"
    frame.to_csv(path, index=False)
    return path


def served_probabilities(settings: Any, path: Path) -> pd.Series:
    """What the API answers for each customer: the served version's ONNX path (model/served.py), by customer id."""
    client = connect(settings)
    model = load_served_model(client, settings, None, served_version(client, settings))
    customers = load_customers(path, model.contract)
    return pd.Series(model.score_frame(customers.features), index=customers.ids.to_numpy())


def test_every_row_is_scored_as_the_api_scores_it(spark: Any, telco_registry: TelcoRegistry, many_customers: Path, tmp_path: Path) -> None:
    from churnops.spark.scoring import score_on_spark  # noqa: PLC0415

    settings = api_settings(telco_registry.registry, tmp_path)
    result = score_on_spark(settings, str(many_customers), tmp_path / "scored")
    scored = pd.read_parquet(tmp_path / "scored")
    expected = served_probabilities(settings, many_customers)
    assert result.rows == len(scored) == len(expected) == 7043 * COPIES and result.engine == "spark" and result.stored == 0
    assert scored["customerID"].is_unique and set(scored["customerID"]) == set(expected.index)
    assert scored["prediction_id"].is_unique and scored["prediction_id"].str.fullmatch("[0-9a-f]{32}").all()
    difference = np.abs(scored.set_index("customerID")["churn_probability"] - expected.reindex(scored["customerID"]).to_numpy())
    assert float(difference.max()) < 1e-5, float(difference.max())
    assert (scored["churn"] == (scored["churn_probability"] >= result.threshold)).all()
    run = connect(settings).get_run(result.run_id)
    assert run.data.tags["engine"] == "spark" and run.data.params["engine"] == "spark" and run.data.metrics["rows"] == result.rows


def test_parquet_input_scores_the_same(spark: Any, telco_registry: TelcoRegistry, telco_csv: Path, telco_frame: pd.DataFrame, tmp_path: Path) -> None:
    from churnops.spark.scoring import score_on_spark  # noqa: PLC0415

    source = tmp_path / "customers.parquet"
    typed = telco_frame.assign(SeniorCitizen=telco_frame["SeniorCitizen"].astype("int64"), tenure=telco_frame["tenure"].astype("int64"))
    typed.to_parquet(source, index=False)
    settings = api_settings(telco_registry.registry, tmp_path)
    result = score_on_spark(settings, str(source), tmp_path / "scored")
    scored = pd.read_parquet(result.output).set_index("customerID")
    expected = served_probabilities(settings, telco_csv)
    assert len(scored) == len(expected)
    assert float(np.abs(scored["churn_probability"] - expected.reindex(scored.index).to_numpy()).max()) < 1e-5


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.integration), "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'predictions.db'}"
        return
    require(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432 (set CHURNOPS_TEST_POSTGRES_URL)")
    require(JDBC_JAR.is_file(), f"no PostgreSQL JDBC driver at {JDBC_JAR}: make system-deps installs libpostgresql-jdbc-java")
    with scratch_database() as url:
        yield url


def stored_rows(url: str, request_id: str) -> pd.DataFrame:
    from churnops.store import PREDICTIONS  # noqa: PLC0415

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(PREDICTIONS).where(PREDICTIONS.c.request_id == request_id)).all()
    finally:
        engine.dispose()
    return pd.DataFrame([dict(row._mapping) for row in rows]).set_index("id")


def test_stored_predictions_are_the_local_engines_rows(
    spark: Any, store_url: str, telco_registry: TelcoRegistry, telco_frame: pd.DataFrame, tmp_path: Path
) -> None:
    from churnops.spark.scoring import score_on_spark  # noqa: PLC0415

    customers = tmp_path / "customers.csv"
    telco_frame.head(3000).to_csv(customers, index=False)
    settings = api_settings(telco_registry.registry, tmp_path, store_url=store_url, batch_output_dir=tmp_path / "local")
    local = score_batch(settings, str(customers))
    ours = score_on_spark(settings, str(customers), tmp_path / "scored", store=True)
    assert ours.stored == 3000 and ours.spooled == 0 and ours.store_path == ("jdbc" if store_url.startswith("postgresql") else "driver")

    theirs_rows, our_rows = stored_rows(store_url, local.run_id), stored_rows(store_url, ours.run_id)
    assert len(our_rows) == 3000 and our_rows.index.is_unique and not set(our_rows.index) & set(theirs_rows.index)
    by_customer = pd.read_parquet(ours.output).set_index("customerID")["prediction_id"]
    theirs_by_customer = pd.read_parquet(local.output).set_index("customerID")["prediction_id"]
    assert set(by_customer) == set(our_rows.index)
    for customer in by_customer.index[[0, 1, 1500, 2999]]:
        mine, theirs = our_rows.loc[by_customer[customer]], theirs_rows.loc[theirs_by_customer[customer]]
        assert mine["features"] == theirs["features"]
        assert math.isclose(mine["probability"], theirs["probability"], abs_tol=1e-12)
        for column in ("label", "threshold", "model_name", "model_version", "endpoint", "exported_at"):
            assert mine[column] == theirs[column] or (mine[column] is None and theirs[column] is None), column
        assert mine["endpoint"] == "batch-scoring" and mine["latency_ms"] >= 0
        assert mine["created_at"].utcoffset() is not None and theirs["created_at"].utcoffset() is not None


def test_a_bad_row_is_told_as_the_local_engine_tells_it(spark: Any, telco_registry: TelcoRegistry, telco_frame: pd.DataFrame, tmp_path: Path) -> None:
    bad = telco_frame.head(500).copy()
    bad.loc[10, "tenure"] = "ten"
    bad.loc[20, "Contract"] = "Weekly"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    settings = api_settings(telco_registry.registry, tmp_path)
    client = connect(settings)
    contract = load_served_model(client, settings, None, served_version(client, settings)).contract
    with pytest.raises(DataError) as local:
        load_customers(path, contract)

    result = churnops_command(settings, "score", "--engine", "spark", "--input", str(path), "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"error: {local.value}" in result.stderr, result.stderr
    assert "line 12: 'ten'" in result.stderr and "line 22: 'Weekly'" in result.stderr
    assert "Traceback" not in result.stderr and "org.apache" not in result.stderr and "\tat " not in result.stderr, result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_the_output_must_be_a_new_folder(tmp_path: Path) -> None:
    (tmp_path / "scored.parquet").write_text("x")
    (tmp_path / "taken").mkdir()
    for output, message in (("scored.parquet", "is a file; Spark writes a folder"), ("taken", "exists already")):
        result = churnops_command(api_settings(None, tmp_path), "score", "--engine", "spark", "--output", str(tmp_path / output), cwd=tmp_path)
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
