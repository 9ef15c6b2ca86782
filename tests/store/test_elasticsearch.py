"""The Elasticsearch exporter with the real `elasticsearch` client over real HTTP.

Against a FAKE Elasticsearch (tests/support/fakes/elasticsearch.py: no server can run here) that records
what it receives; and against a real cluster when CHURNOPS_ELASTICSEARCH_URL is set.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from churnops.data.contract import DatasetContract
from churnops.data.loading import Dataset
from churnops.settings import Settings
from churnops.store import FEEDBACK, PREDICTIONS, PredictionStore, create_store_engine
from churnops.store.elasticsearch import ElasticsearchExporter, ExportFailed, mappings
from tests.support.fakes.elasticsearch import FakeElasticsearch
from tests.support.paths import CONTRACT_PATH
from tests.support.registries import TelcoRegistry
from tests.support.servers import churnops_api, free_port
from tests.support.settings import api_settings
from tests.support.traffic import as_requests, customers, store_predictions
from tests.support.waiting import wait_until

DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)


def filled_store(tmp_path: Path, contract: DatasetContract, telco: Dataset, count: int = 1200) -> str:
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    store = PredictionStore(url, tmp_path / "spool")
    store.start()
    frame, truth = customers(telco, count, seed=3)
    # Spread over two days: two date-based indices per kind.
    store_predictions(store, contract, frame, [0.25] * count, 0.5, "7", DAY, timedelta(hours=36), truth)
    store.close()
    return url


def exporter(url: str, contract: DatasetContract, retries: int = 3) -> tuple[ElasticsearchExporter, list[float]]:
    sleeps: list[float] = []
    settings = Settings(elasticsearch_url=url, elasticsearch_max_retries=retries, dataset=CONTRACT_PATH)
    return ElasticsearchExporter(settings.elasticsearch, contract, sleep=sleeps.append), sleeps


def unexported(store_url: str) -> int:
    engine = create_store_engine(store_url)
    with engine.connect() as connection:
        count = sum(
            connection.execute(sa.select(sa.func.count()).select_from(table).where(table.c.exported_at.is_(None))).scalar_one()
            for table in (PREDICTIONS, FEEDBACK)
        )
    engine.dispose()
    return int(count)


def test_templates_carry_explicit_mappings_and_documents_land_in_daily_indices(tmp_path: Path, contract: DatasetContract, telco: Dataset) -> None:
    store_url = filled_store(tmp_path, contract, telco)
    with FakeElasticsearch() as es:
        export, _ = exporter(es.url, contract)
        assert export.export_pending(create_store_engine(store_url)) == {"predictions": 1200, "feedback": 1200, "alerts": 0}

        assert set(es.templates) == {f"churnops-{kind}" for kind in ("predictions", "feedback", "alerts", "monitoring", "feature-drift")}
        template = es.templates["churnops-predictions"]
        assert template["index_patterns"] == ["churnops-predictions-*"]
        properties = template["template"]["mappings"]["properties"]
        assert template["template"]["mappings"]["dynamic"] is False
        assert properties["@timestamp"] == {"type": "date"} and properties["probability"] == {"type": "double"}
        assert properties["features"]["properties"]["Contract"] == {"type": "keyword"}
        assert properties["features"]["properties"]["tenure"] == {"type": "double"}

        assert sorted(index for index in es.indices if "predictions" in index) == [
            "churnops-predictions-2026.11.20",
            "churnops-predictions-2026.11.21",
        ]
        documents = es.documents("churnops-predictions-")
        assert len(documents) == 1200
        first = next(iter(documents.values()))
        assert first["model_version"] == "7" and first["probability"] == 0.25 and first["churn"] is False
        assert set(first["features"]) == set(contract.feature_columns)
        assert {doc["prediction_id"] for doc in es.documents("churnops-feedback-").values()} == set(documents)
    assert unexported(store_url) == 0


def test_every_mapped_field_exists_in_the_documents(contract: DatasetContract) -> None:
    """A mapping for a field no document has (or the reverse) would leave a Kibana panel empty."""
    mapped = mappings(contract)
    assert set(mapped["feedback"]) == {"@timestamp", "feedback_id", "prediction_id", "churned", "request_id"}
    assert set(mapped["predictions"]["features"]["properties"]) == set(contract.feature_columns)


def test_overloaded_and_failing_requests_are_retried_with_backoff(tmp_path: Path, contract: DatasetContract, telco: Dataset) -> None:
    store_url = filled_store(tmp_path, contract, telco, count=300)
    with FakeElasticsearch() as es:
        es.fail_requests = [503, 502]  # the first two requests (template puts) fail whole
        es.reject_documents = 5  # then five documents are refused with 429 inside a bulk
        export, sleeps = exporter(es.url, contract)
        assert export.export_pending(create_store_engine(store_url))["predictions"] == 300
        assert sleeps[:2] == [0.5, 1.0]  # exponential backoff between whole-request retries
        assert len(es.documents("churnops-predictions-")) == 300
        assert es.bulk_requests() >= 3  # the refused documents went again
    assert unexported(store_url) == 0


def test_an_unreachable_cluster_loses_nothing_and_a_later_round_catches_up(tmp_path: Path, contract: DatasetContract, telco: Dataset) -> None:
    store_url = filled_store(tmp_path, contract, telco, count=200)
    down, sleeps = exporter(f"http://127.0.0.1:{free_port()}", contract, retries=2)
    with pytest.raises(ExportFailed, match="after 3 attempts"):
        down.export_pending(create_store_engine(store_url))
    assert sleeps == [0.5, 1.0]
    assert unexported(store_url) == 400  # nothing marked exported

    with FakeElasticsearch() as es:
        export, _ = exporter(es.url, contract)
        assert export.export_pending(create_store_engine(store_url)) == {"predictions": 200, "feedback": 200, "alerts": 0}
        assert export.export_pending(create_store_engine(store_url)) == {"predictions": 0, "feedback": 0, "alerts": 0}


def test_the_api_exports_in_the_background_and_serves_through_an_outage(
    telco_registry: TelcoRegistry, tmp_path: Path, contract: DatasetContract, telco: Dataset
) -> None:
    frame, _ = customers(telco, 20, seed=4)
    bodies = as_requests(frame, contract)
    with FakeElasticsearch() as es:
        settings = api_settings(telco_registry.registry, tmp_path, elasticsearch_url=es.url, elasticsearch_export_seconds=0.5)
        with churnops_api(settings, tmp_path / "api.log") as api:
            with httpx.Client(base_url=api) as client:
                wait_until(lambda: client.get("/ready").status_code == 200, 60, "API not ready")
                ids = [client.post("/predict", json=body).json()["prediction_id"] for body in bodies[:10]]
                wait_until(lambda: set(ids) <= set(es.documents("churnops-predictions-")), 30, "predictions not exported")
                es.fail_requests = [503] * 10_000  # the cluster goes down
                more = [client.post("/predict", json=body) for body in bodies[10:]]
                assert [response.status_code for response in more] == [200] * 10
                assert client.get("/ready").json()["ready"] is True  # Elasticsearch is not a serving dependency
                wait_until(lambda: es.failures_answered >= 2, 30, "the exporter did not try during the outage")
                es.fail_requests = []  # back up
                later = {response.json()["prediction_id"] for response in more}
                wait_until(lambda: later <= set(es.documents("churnops-predictions-")), 60, "predictions after the outage not exported")
    assert unexported(settings.store.url) == 0


@pytest.mark.skipif(
    not os.environ.get("CHURNOPS_ELASTICSEARCH_URL"), reason="CHURNOPS_ELASTICSEARCH_URL not set: no real Elasticsearch cluster to test against"
)
def test_against_a_real_cluster(tmp_path: Path, contract: DatasetContract, telco: Dataset) -> None:
    store_url = filled_store(tmp_path, contract, telco, count=50)
    settings = Settings(elasticsearch_index_prefix=f"churnops-test-{os.getpid()}", dataset=CONTRACT_PATH)
    export = ElasticsearchExporter(settings.elasticsearch, contract)
    try:
        assert export.export_pending(create_store_engine(store_url))["predictions"] == 50
        export.client.indices.refresh(index=f"{settings.elasticsearch.index_prefix}-predictions-*")
        assert export.client.count(index=f"{settings.elasticsearch.index_prefix}-predictions-*")["count"] == 50
        mapping = export.client.indices.get_mapping(index=f"{settings.elasticsearch.index_prefix}-predictions-*")
        assert next(iter(mapping.values()))["mappings"]["properties"]["features"]["properties"]["Contract"]["type"] == "keyword"
    finally:
        export.client.indices.delete(index=f"{settings.elasticsearch.index_prefix}-*", allow_no_indices=True)
        for kind in mappings(contract):
            export.client.indices.delete_index_template(name=f"{settings.elasticsearch.index_prefix}-{kind}", ignore_unavailable=True)
