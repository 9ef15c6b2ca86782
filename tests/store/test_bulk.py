"""The store's bulk path (store/bulk.py) on real SQLite and PostgreSQL: what batch scoring stores, once, even when refused or replayed."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from churnops.batch_scoring import score_batch
from churnops.data.contract import DatasetContract
from churnops.data.loading import load_customers
from churnops.model.served import load_served_model, served_version
from churnops.store import PredictionRecord, PredictionStore, new_prediction_ids, score_and_record
from churnops.store.bulk import SQLITE_ROWS_PER_STATEMENT, PredictionColumns, features_json
from churnops.store.engine import _dump_json
from churnops.store.rows import _json_safe
from churnops.tracking import connect
from tests.support.databases import postgres_available, scratch_database
from tests.support.prerequisites import require
from tests.support.registries import TelcoRegistry
from tests.support.settings import api_settings

ROWS = 3000  # customers in the batch-scoring test: a few chunks of the real file


@pytest.fixture(scope="module")
def postgres_up() -> bool:
    return postgres_available()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_up: bool) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'predictions.db'}"
        return
    require(postgres_up, "PostgreSQL is not reachable on 127.0.0.1:5432")
    with scratch_database() as url:
        yield url


@pytest.fixture()
def store_for(tmp_path: Path) -> Iterator[Any]:
    stores: list[PredictionStore] = []

    def make(url: str, spool: Path | None = None) -> PredictionStore:
        store = PredictionStore(url, spool or tmp_path / "spool", flush_seconds=0.05, retry_seconds=0.2)
        stores.append(store)
        store.start()
        return store

    yield make
    for store in stores:
        store.close(timeout=10)


def rows_of(url: str) -> dict[str, dict[str, Any]]:
    """Every stored prediction by id, read back through SQLAlchemy (features decoded, times as UTC)."""
    store = PredictionStore(url, Path("/nonexistent-spool"))
    try:
        with store._engine.connect() as connection:
            from churnops.store import PREDICTIONS  # noqa: PLC0415

            return {row.id: dict(row._mapping) for row in connection.execute(sa.select(PREDICTIONS))}
    finally:
        store._engine.dispose()


def frame_of(customers: int = 50) -> pd.DataFrame:
    """A model frame with the awkward values: missing numbers and categories, quotes, non-ASCII, % in a name."""
    index = np.arange(customers)
    return pd.DataFrame(
        {
            "Contract": np.where(index % 5 == 0, None, np.where(index % 2 == 0, "Month-to-month", 'Two "year"')).tolist(),
            "city": ["Zürich\\north" if value % 3 else "Tab\there" for value in index],
            "tenure": index.astype("int64"),
            "TotalCharges": np.where(index % 7 == 0, np.nan, index * 10.1),
            "growth %": np.where(index % 11 == 0, np.inf, index / 3),
        }
    )


def columns_for(frame: pd.DataFrame, ids: list[str] | None = None) -> PredictionColumns:
    probabilities = np.linspace(0.0, 1.0, len(frame))
    return PredictionColumns(
        ids=ids or new_prediction_ids(len(frame)),
        features=features_json(frame),
        probabilities=probabilities,
        labels=probabilities >= 0.4,
        latency_ms=2.5,
        created_at=datetime.now(UTC),
        model_name="churn-classifier",
        model_version="7",
        threshold=0.4,
        endpoint="batch-scoring",
        request_id="run-1",
    )


def as_records(batch: PredictionColumns, frame: pd.DataFrame) -> list[PredictionRecord]:
    """The same predictions as the API records them (one object each, through the ordinary writer)."""
    return [
        PredictionRecord(
            id=key,
            created_at=batch.created_at,
            model_name=batch.model_name,
            model_version=batch.model_version,
            features=customer,
            probability=float(probability),
            label=bool(label),
            threshold=batch.threshold,
            latency_ms=batch.latency_ms,
            endpoint=batch.endpoint,
            request_id=batch.request_id,
        )
        for key, customer, probability, label in zip(batch.ids, frame.to_dict("records"), batch.probabilities, batch.labels, strict=True)
    ]


def test_features_json_is_the_text_the_ordinary_path_stores() -> None:
    frame = frame_of()
    expected = [_dump_json(_json_safe(dict(row))) for row in frame.to_dict("records")]
    assert features_json(frame) == expected
    decoded = json.loads(features_json(frame)[0])
    assert decoded["Contract"] is None and decoded["TotalCharges"] is None and decoded["growth %"] is None  # NaN/inf -> null
    assert features_json(frame.iloc[:0]) == []


def test_bulk_batch_stores_what_the_ordinary_path_stores(database_url: str, tmp_path: Path, store_for: Any) -> None:
    frame = frame_of(200)
    batch = columns_for(frame)
    bulk_store = store_for(database_url)
    bulk_store.store_columns(batch)

    ordinary_url = f"sqlite:///{tmp_path / 'ordinary.db'}"
    ordinary = store_for(ordinary_url, tmp_path / "ordinary-spool")
    ordinary.record_predictions(as_records(batch, frame))
    assert ordinary.flush(30)

    ours, theirs = rows_of(database_url), rows_of(ordinary_url)
    assert set(ours) == set(batch.ids) and ours.keys() == theirs.keys()
    for key, row in ours.items():
        other = theirs[key]
        assert row["features"] == other["features"]
        assert {name: row[name] for name in row if name != "features"} == {name: other[name] for name in other if name != "features"}


def test_sqlite_stores_times_and_labels_as_sqlalchemy_writes_them(tmp_path: Path, store_for: Any) -> None:
    """Both bulk paths (batch scoring's columns, the API writer's rows) write SQLAlchemy's text, on a whole second too:
    sqlite3's own adapter drops the fraction, and '03:04:05' sorts before the '03:04:05.000000' a window query binds."""
    frame = frame_of(20)
    batch = columns_for(frame)
    batch = PredictionColumns(**{**batch.__dict__, "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})
    bulk_url, ordinary_url = f"sqlite:///{tmp_path / 'bulk.db'}", f"sqlite:///{tmp_path / 'ordinary.db'}"
    store_for(bulk_url).store_columns(batch)
    ordinary = store_for(ordinary_url, tmp_path / "ordinary-spool")
    ordinary.record_predictions(as_records(batch, frame))
    assert ordinary.flush(30)

    def raw(url: str) -> list[tuple[Any, ...]]:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT id, created_at, typeof(created_at), label, typeof(label) FROM predictions ORDER BY id")
            rows = [tuple(row) for row in stored]
        engine.dispose()
        return rows

    ours = raw(bulk_url)
    assert ours == raw(ordinary_url)
    assert ours[0][1:3] == ("2026-01-02 03:04:05.000000", "text") and {row[3:] for row in ours} == {(0, "integer"), (1, "integer")}


def test_a_batch_of_several_insert_statements_is_stored_whole_and_in_order(database_url: str, store_for: Any) -> None:
    """SQLite takes a bulk batch in statements of SQLITE_ROWS_PER_STATEMENT rows: the last, partial one too."""
    frame = frame_of(2 * SQLITE_ROWS_PER_STATEMENT + 7)
    batch = columns_for(frame)
    store_for(database_url).store_columns(batch)
    stored = rows_of(database_url)
    assert set(stored) == set(batch.ids)
    for index in (0, SQLITE_ROWS_PER_STATEMENT - 1, SQLITE_ROWS_PER_STATEMENT, len(frame) - 1):  # each side of each statement
        row = stored[batch.ids[index]]
        assert row["features"] == json.loads(batch.features[index])
        assert row["probability"] == batch.probabilities[index] and row["label"] == bool(batch.labels[index])


def test_a_batch_stored_twice_is_stored_once(database_url: str, store_for: Any) -> None:
    frame = frame_of(300)
    batch = columns_for(frame)
    store = store_for(database_url)
    store.store_columns(batch)
    store.store_columns(batch)  # a re-run with the same ids
    half = columns_for(frame.iloc[:150], ids=list(batch.ids[:150]))
    store.record_predictions(as_records(half, frame.iloc[:150]))  # and the ordinary writer's bulk insert over the same keys
    assert store.flush(30)
    assert store.count_predictions() == 300
    assert set(rows_of(database_url)) == set(batch.ids)


def test_batches_handed_to_the_store_thread_are_stored_in_one_transaction(database_url: str, store_for: Any) -> None:
    frame = frame_of(300)
    batches = [columns_for(frame.iloc[start : start + 100]) for start in (0, 100, 200)]
    store = store_for(database_url)
    with store.storing_columns(depth=1) as store_columns:
        for batch in batches:
            store_columns(batch)
    assert set(rows_of(database_url)) == {key for batch in batches for key in batch.ids}


def test_a_failure_while_batches_are_handed_over_stores_none_of_them(database_url: str, store_for: Any) -> None:
    store = store_for(database_url)
    with pytest.raises(RuntimeError, match="scoring failed"), store.storing_columns(depth=1) as store_columns:
        for _ in range(3):  # with one batch waiting at most, the third is taken only once the first is written
            store_columns(columns_for(frame_of(100)))
        raise RuntimeError("scoring failed")  # e.g. the model, halfway through the file
    assert rows_of(database_url) == {}
    store.store_columns(columns_for(frame_of(10)))  # and the store still takes the next batch
    assert len(rows_of(database_url)) == 10


def test_prediction_ids_are_unique_time_ordered_hex() -> None:
    first, second = new_prediction_ids(2000), new_prediction_ids(2000)
    assert first == sorted(first) and len(set(first + second)) == 4000
    assert all(len(key) == 32 and int(key, 16) >= 0 for key in first)
    assert first[0][:12] <= second[0][:12]  # the milliseconds come first: later batches sort after earlier ones


def test_a_batch_during_an_outage_is_spooled_and_replayed_once(database_url: str, tmp_path: Path, store_for: Any) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    spool = tmp_path / "outage-spool"
    batch = columns_for(frame_of(120))
    down = store_for(f"sqlite:///{blocker / 'predictions.db'}", spool)
    down.store_columns(batch)
    assert down.spooled_records == 120

    up = store_for(database_url, spool)  # start() replays the spool
    assert up.spooled_records == 0
    up.store_columns(batch)  # and a re-run of the same batch adds nothing
    stored = rows_of(database_url)
    assert set(stored) == set(batch.ids)
    first = stored[batch.ids[1]]
    assert first["probability"] == pytest.approx(batch.probabilities[1]) and first["endpoint"] == "batch-scoring"


def test_a_row_postgresql_refuses_is_set_aside_and_the_rest_stored(postgres_up: bool, tmp_path: Path, store_for: Any) -> None:
    require(postgres_up, "PostgreSQL is not reachable on 127.0.0.1:5432")
    frame = frame_of(40)
    frame.loc[3, "city"] = "bad\x00byte"  # JSONB refuses NUL
    batch = columns_for(frame)
    with scratch_database() as url:
        store = store_for(url, tmp_path / "spool")
        store.store_columns(batch)
        assert set(rows_of(url)) == set(batch.ids) - {batch.ids[3]}
    rejected = list((tmp_path / "spool" / "rejected").glob("*.jsonl"))
    assert len(rejected) == 1 and batch.ids[3] in rejected[0].read_text()


def test_a_refused_row_in_one_handed_batch_is_set_aside_and_every_other_prediction_stored(postgres_up: bool, tmp_path: Path, store_for: Any) -> None:
    require(postgres_up, "PostgreSQL is not reachable on 127.0.0.1:5432")
    frames = [frame_of(40) for _ in range(3)]
    frames[1].loc[3, "city"] = "bad\x00byte"  # JSONB refuses NUL: the second batch's transaction fails
    batches = [columns_for(frame) for frame in frames]
    with scratch_database() as url:
        store = store_for(url, tmp_path / "spool")
        with store.storing_columns(depth=1) as store_columns:
            for batch in batches:
                store_columns(batch)
        expected = {key for batch in batches for key in batch.ids} - {batches[1].ids[3]}
        assert set(rows_of(url)) == expected
    rejected = list((tmp_path / "spool" / "rejected").glob("*.jsonl"))
    assert len(rejected) == 1 and batches[1].ids[3] in rejected[0].read_text()


def test_batch_scoring_stores_every_customer_once_as_the_api_would(
    database_url: str, telco_registry: TelcoRegistry, telco_csv: Path, contract: DatasetContract, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    pd.read_csv(telco_csv, dtype=str, keep_default_na=False).head(ROWS).to_csv(customers, index=False)
    settings = api_settings(telco_registry.registry, tmp_path, store_url=database_url, batch_output_dir=tmp_path / "out")
    result = score_batch(settings, str(customers))
    assert result.rows == ROWS and result.spooled == 0
    scored = pd.read_parquet(result.output)
    stored = rows_of(database_url)
    assert len(stored) == ROWS and set(stored) == set(scored["prediction_id"])

    # What the API's path (score_and_record: one record per customer) stores for the same customers.
    client = connect(settings)
    model = load_served_model(client, settings, None, served_version(client, settings))
    records: list[dict[str, Any]] = load_customers(customers, model.contract).features.to_dict("records")  # type: ignore[assignment]
    api_url = f"sqlite:///{tmp_path / 'api.db'}"
    api_store = PredictionStore(api_url, tmp_path / "api-spool")
    api_store.start()
    try:
        recorded = score_and_record(model, records, api_store, "predict/batch", None)
    finally:
        api_store.close()
    api_rows = rows_of(api_url)
    for position in (0, 1, ROWS // 2, ROWS - 1):
        ours = stored[scored["prediction_id"].iloc[position]]
        theirs = api_rows[recorded.ids[position]]
        assert ours["features"] == theirs["features"]
        assert math.isclose(ours["probability"], theirs["probability"], abs_tol=1e-12)
        assert (ours["label"], ours["threshold"], ours["model_version"]) == (theirs["label"], theirs["threshold"], theirs["model_version"])
    assert result.rows == len(records)

    again = score_batch(settings, str(customers))  # a second run stores a second set of predictions, the first stays whole
    assert len(rows_of(database_url)) == 2 * ROWS and again.spooled == 0
