"""Database outage while serving: predictions keep being answered, records are spooled to disk and replayed, nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from churnops.data.contract import DatasetContract
from churnops.settings import Settings
from tests.support.databases import count_rows, postgres_available, scratch_database
from tests.support.load import drive
from tests.support.prerequisites import require
from tests.support.proxy import TcpProxy
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings
from tests.support.traffic import valid_customers
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Outage:
    direct: str  # the scratch database's own URL, for counting rows
    proxy: TcpProxy  # the service reaches the database only through this
    settings: Settings
    customers: list[dict[str, Any]]


@pytest.fixture()
def outage(trained_registry: TrainedRegistry, tmp_path: Path, synthetic_csv: Path, contract: DatasetContract) -> Iterator[Outage]:
    """Service settings whose prediction store is a scratch PostgreSQL database behind a stoppable proxy."""
    require(postgres_available(), "PostgreSQL is not reachable (set CHURNOPS_TEST_POSTGRES_URL)")
    with scratch_database() as direct:
        parts = urlsplit(direct)
        with TcpProxy(parts.port or 5432, parts.hostname or "127.0.0.1") as proxy:
            through_proxy = direct.replace(f":{parts.port or 5432}/", f":{proxy.port}/")
            settings = api_settings(trained_registry, tmp_path, store_url=through_proxy)
            yield Outage(direct, proxy, settings, valid_customers(synthetic_csv, contract, 50))


def test_outage_spools_and_replays_without_losing_a_record(outage: Outage, tmp_path: Path) -> None:
    direct, proxy, settings, customers = outage.direct, outage.proxy, outage.settings, outage.customers
    with churnops_api(settings, tmp_path / "api.log") as url:
        before = drive(url, customers, 300)
        wait_until(lambda: count_rows(direct)[0] == 300, 20, "rows written before the outage")

        proxy.stop()
        during = drive(url, customers, 500)
        assert during.failures == [] and during.successes == 500, "predictions must be served during the outage"
        feedback = httpx.post(url + "/feedback", json={"prediction_id": during.prediction_ids[0], "churned": True})
        assert feedback.status_code == 200, "feedback for a spooled prediction is accepted"
        ready = httpx.get(url + "/ready")
        assert ready.status_code == 503 and ready.json()["store"] == "unreachable"
        wait_until(lambda: httpx.get(url + "/ready").json()["spooled_records"] > 0, 20, "records were not spooled")
        assert any((tmp_path / "spool").glob("*.jsonl")), "spool files on disk"
        assert count_rows(direct)[0] == 300, "nothing reached the database while it was down"

        proxy.start()
        wait_until(lambda: httpx.get(url + "/ready").status_code == 200, 30, "the store did not recover")
        wait_until(lambda: count_rows(direct)[0] == 800, 30, "spooled predictions were not replayed")
        # The predictions' file may be replayed before the request log's and the feedback's: all of them, soon.
        wait_until(lambda: httpx.get(url + "/ready").json()["spooled_records"] == 0, 30, "spooled records were left on disk")
    assert before.successes + during.successes == 800
    assert count_rows(direct) == (800, 800)
    assert count_rows(direct, "feedback")[0] == 1


def test_shutdown_during_outage_spools_and_the_next_process_replays(outage: Outage, tmp_path: Path) -> None:
    direct, proxy, settings, customers = outage.direct, outage.proxy, outage.settings, outage.customers
    with churnops_api(settings, tmp_path / "api.log") as url:
        wait_until(lambda: httpx.get(url + "/ready").status_code == 200, 20, "not ready")
        proxy.stop()
        sent = drive(url, customers, 400)
    assert sent.successes == 400
    spooled = list((tmp_path / "spool").glob("*.jsonl"))
    assert spooled, "the graceful shutdown must spool what it could not write"
    assert count_rows(direct)[0] == 0

    proxy.start()
    with churnops_api(settings, tmp_path / "api.log") as url:
        wait_until(lambda: count_rows(direct)[0] == 400, 30, "the new process did not replay the spool")
    assert count_rows(direct) == (400, 400)
    assert not list((tmp_path / "spool").glob("*.jsonl"))
