"""After a bounded load run, the store holds exactly one row per successful response (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from churnops.data.contract import DatasetContract
from tests.conftest import require
from tests.integration.servers import churnops_api, postgres_available, scratch_database
from tests.serving.conftest import TrainedRegistry, api_settings, valid_customers
from tests.serving.load import drive

PREDICTIONS = 20_000


def count_rows(url: str, table: str = "predictions") -> tuple[int, int]:
    """(rows, distinct ids) in a store table, read straight from the database."""
    key = "id" if table == "predictions" else "feedback_id"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            total = connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()  # noqa: S608 - fixed table names
            distinct = connection.execute(sa.text(f"SELECT COUNT(DISTINCT {key}) FROM {table}")).scalar_one()  # noqa: S608
    finally:
        engine.dispose()
    return int(total), int(distinct)


def run_load(trained: TrainedRegistry, tmp_path: Path, store_url: str, csv: Path, contract: DatasetContract) -> None:
    settings = api_settings(trained, tmp_path, store_url=store_url)
    with churnops_api(settings, tmp_path / "api.log") as url:
        result = drive(url, valid_customers(csv, contract, 200), PREDICTIONS, concurrency=8)
    # The server has shut down gracefully: its queue is flushed.
    assert result.failures == []
    assert result.successes == PREDICTIONS
    assert count_rows(store_url) == (result.successes, result.successes)
    assert not any((tmp_path / "spool").glob("*")), "nothing may be left in the spool"


@pytest.mark.slow
def test_sqlite_store_holds_every_prediction_after_load(
    trained_registry: TrainedRegistry, tmp_path: Path, synthetic_csv: Path, contract: DatasetContract
) -> None:
    run_load(trained_registry, tmp_path, f"sqlite:///{tmp_path / 'predictions.db'}", synthetic_csv, contract)


@pytest.mark.slow
@pytest.mark.integration
def test_postgres_store_holds_every_prediction_after_load(
    trained_registry: TrainedRegistry, tmp_path: Path, synthetic_csv: Path, contract: DatasetContract
) -> None:
    require(postgres_available(), "PostgreSQL is not reachable (set CHURNOPS_TEST_POSTGRES_URL)")
    with scratch_database() as url:
        run_load(trained_registry, tmp_path, url, synthetic_csv, contract)
