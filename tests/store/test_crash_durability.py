"""`kill -9` of `churnops serve` mid-load loses no acknowledged prediction (SQLite and PostgreSQL).

Real server processes, real HTTP clients in threads. The store is set to batch slowly (5 s, 5000
rows) so that at the kill nearly every answered prediction is still in the writer's memory queue:
only the write-ahead log can bring them back. After a restart, every acknowledged id is stored
exactly once; the few extra rows allowed are requests in flight at the kill (at most one per client).
The restart runs the store's start-up in this process: the same code `churnops serve` runs at start.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from churnops.data.contract import DatasetContract
from churnops.store import PredictionStore
from tests.support.databases import postgres_available, scratch_database
from tests.support.prerequisites import require
from tests.support.registries import TrainedRegistry
from tests.support.servers import kill_group, killable_churnops_api
from tests.support.settings import api_settings
from tests.support.traffic import valid_customers

CLIENTS = 4
LOAD_SECONDS = 3.0


def send_until_killed(url: str, customers: list[dict[str, Any]], acknowledged: list[str], stop: threading.Event) -> None:
    """One client: /predict in a loop; an id counts as acknowledged only when its 200 answer arrived whole."""
    with httpx.Client(base_url=url, timeout=10) as client:
        index = 0
        while not stop.is_set():
            try:
                response = client.post("/predict", json=customers[index % len(customers)])
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code == 200:
                acknowledged.append(response.json()["prediction_id"])
            index += 1


def stored_ids(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(sa.text("SELECT id FROM predictions"))]
    finally:
        engine.dispose()


def crash_and_restart(trained: TrainedRegistry, tmp_path: Path, store_url: str, customers: list[dict[str, Any]], workers: int) -> None:
    settings = api_settings(trained, tmp_path, store_url=store_url, store_flush_seconds=5.0, store_batch_size=5000, request_log=False)
    acknowledged: list[str] = []
    stop = threading.Event()
    with killable_churnops_api(settings, tmp_path / "api.log", workers=workers) as (url, process):
        clients = [threading.Thread(target=send_until_killed, args=(url, customers, acknowledged, stop)) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        time.sleep(LOAD_SECONDS)
        kill_group(process)  # every worker at once, mid-stream
        stop.set()
        for client in clients:
            client.join(timeout=30)
    assert len(acknowledged) > 100, "the load did not get going; see api.log"
    segments = list((tmp_path / "spool" / "wal").glob("*.wal"))
    assert len(segments) >= workers, "each worker keeps its own write-ahead log"

    # The restart: what `churnops serve` runs at start-up (Service.start -> PredictionStore.start, which takes over
    # the dead workers' logs), without a third process import (~15 s here) that would test nothing more.
    restarted = PredictionStore.from_settings(settings.store, acknowledged=True)
    restarted.start()
    restarted.close()
    stored = stored_ids(store_url)
    assert len(stored) == len(set(stored)), "a prediction was stored twice"
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged predictions were lost"
    assert len(stored) - len(acknowledged) <= CLIENTS * workers, "more rows than answers plus requests in flight"
    assert not list((tmp_path / "spool" / "wal").glob("*.wal")), "the write-ahead log is trimmed once stored"
    assert not list((tmp_path / "spool").glob("*.jsonl")), "the recovered records left the spool"


@pytest.fixture(scope="module")
def customers(synthetic_csv: Path, contract: DatasetContract) -> list[dict[str, Any]]:
    return valid_customers(synthetic_csv, contract, 200)


def test_sqlite_two_workers_killed_lose_no_acknowledged_prediction(
    trained_registry: TrainedRegistry, tmp_path: Path, customers: list[dict[str, Any]]
) -> None:
    crash_and_restart(trained_registry, tmp_path, f"sqlite:///{tmp_path / 'predictions.db'}", customers, workers=2)


@pytest.mark.integration
def test_postgres_kill_loses_no_acknowledged_prediction(trained_registry: TrainedRegistry, tmp_path: Path, customers: list[dict[str, Any]]) -> None:
    require(postgres_available(), "PostgreSQL is not reachable (set CHURNOPS_TEST_POSTGRES_URL)")
    with scratch_database() as url:
        crash_and_restart(trained_registry, tmp_path, url, customers, workers=1)
