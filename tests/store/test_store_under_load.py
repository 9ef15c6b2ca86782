"""After a bounded load run, the store holds exactly one row per successful response (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.data.contract import DatasetContract
from tests.support.databases import count_rows, postgres_available, scratch_database
from tests.support.load import drive
from tests.support.prerequisites import require
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings
from tests.support.traffic import valid_customers

PREDICTIONS = 20_000


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
