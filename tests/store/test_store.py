"""The prediction store against a real SQLite file and the real local PostgreSQL, outages included."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from churnops.errors import ConfigError, StoreError
from churnops.store import METADATA, VERSION_TABLE, FeedbackRecord, PredictionRecord, PredictionStore, engine
from tests.support.databases import postgres_available, scratch_database
from tests.support.prerequisites import require
from tests.support.proxy import TcpProxy

MakeStore = Callable[..., PredictionStore]


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_up() -> bool:
    return postgres_available()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_up: bool) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'predictions.db'}"
        return
    require(postgres_up, "PostgreSQL is not reachable on 127.0.0.1:5432")
    with scratch_database() as url:
        yield url


@pytest.fixture()
def postgres_url(postgres_up: bool) -> Iterator[str]:
    require(postgres_up, "PostgreSQL is not reachable on 127.0.0.1:5432")
    with scratch_database() as url:
        yield url


@pytest.fixture()
def unreachable_url(tmp_path: Path) -> str:
    """A SQLite file whose folder cannot exist (its parent is a file): every connection fails."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    return f"sqlite:///{blocker / 'predictions.db'}"


@pytest.fixture()
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture()
def make_store(spool: Path) -> Iterator[MakeStore]:
    stores: list[PredictionStore] = []

    def make(url: str, spool_dir: Path | None = None, **options: Any) -> PredictionStore:
        options = {"flush_seconds": 0.05, "retry_seconds": 0.2, **options}
        store = PredictionStore(url, spool_dir or spool, **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close(timeout=10)


@pytest.fixture()
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    """Not started: each test decides when the database is "up"."""
    forwarder = TcpProxy(target_port=sa.make_url(postgres_url).port or 5432)
    yield forwarder
    forwarder.stop()


def through(proxy: TcpProxy, url: str) -> str:
    return sa.make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def predictions(count: int, offset: timedelta = timedelta(0)) -> list[PredictionRecord]:
    zone = timezone(offset)
    return [
        PredictionRecord(
            id=uuid.uuid4().hex,
            created_at=datetime.now(zone),
            model_name="churn-classifier",
            model_version="3",
            features={"tenure": index % 72, "Contract": "Month-to-month", "TotalCharges": None, "MonthlyCharges": 70.35},
            probability=(index % 100) / 100,
            label=index % 100 >= 50,
            threshold=0.5,
            latency_ms=1.25,
            endpoint="predict",
            request_id=f"req-{index}",
        )
        for index in range(count)
    ]


def feedback_for(records: list[PredictionRecord]) -> list[FeedbackRecord]:
    return [FeedbackRecord(prediction_id=record.id, churned=record.label, received_at=datetime.now(UTC), request_id=None) for record in records]


def record_all(store: PredictionStore, records: list[PredictionRecord], feedback: list[FeedbackRecord], chunk: int = 37) -> None:
    for start in range(0, len(records), chunk):
        store.record_predictions(records[start : start + chunk])
    for item in feedback:
        store.record_feedback(item)


def stored(url: str) -> dict[str, int]:
    """Row counts read with a separate engine, so the store under test cannot fool itself."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                "predictions": connection.scalar(sa.text("SELECT count(*) FROM predictions")),
                "distinct_predictions": connection.scalar(sa.text("SELECT count(DISTINCT id) FROM predictions")),
                "feedback": connection.scalar(sa.text("SELECT count(*) FROM feedback")),
                "distinct_feedback": connection.scalar(sa.text("SELECT count(DISTINCT feedback_id) FROM feedback")),
            }
    finally:
        engine.dispose()


def stored_ids(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(sa.text("SELECT id FROM predictions")))
    finally:
        engine.dispose()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.05)


def counts_reach(store: PredictionStore, predictions: int, feedback: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return store.count_predictions() == predictions and store.count_feedback() == feedback
        except StoreError:
            return False

    return check


def spool_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


def spooled_on_disk(folder: Path) -> int:
    return sum(1 for path in spool_files(folder) for line in path.read_text().splitlines() if line.strip())


# --- schema ----------------------------------------------------------------------------------


def test_start_migrates_the_schema_and_a_second_start_is_harmless(database_url: str, make_store: MakeStore) -> None:
    make_store(database_url).start()
    make_store(database_url).start()

    engine = sa.create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names())
        assert {"predictions", "feedback", "requests", "alerts", "comment_analyses", VERSION_TABLE} <= tables
        assert "alembic_version" not in tables  # left free for MLflow in a shared database
        indexed = {table: {tuple(index["column_names"]) for index in inspector.get_indexes(table)} for table in ("predictions", "feedback")}
        assert {("created_at",), ("model_version",)} <= indexed["predictions"]
        assert {("received_at",), ("prediction_id",)} <= indexed["feedback"]
        assert not inspector.get_foreign_keys("feedback")
        with engine.connect() as connection:
            assert connection.scalars(sa.select(sa.column("version_num")).select_from(sa.table(VERSION_TABLE))).all() == ["0003"]
            # The migration and the table definitions the store writes through must agree.
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            assert compare_metadata(context, METADATA) == []
    finally:
        engine.dispose()


def test_sqlite_store_runs_in_wal_mode_in_a_created_folder(tmp_path: Path, make_store: MakeStore) -> None:
    path = tmp_path / "deep" / "er" / "predictions.db"
    store = make_store(f"sqlite:///{path}")
    store.start()
    store.record_predictions(predictions(3))
    assert store.flush(10)

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT count(*) FROM predictions").fetchone()[0] == 3


@pytest.mark.parametrize(
    "url",
    ["not a url", "mysql://user:secret@db.example.com/churn", "sqlite://", "sqlite:///:memory:", "postgresql+nosuchdriver://db/churn"],
)
def test_unusable_urls_are_config_errors_naming_the_url(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        PredictionStore(url, tmp_path / "spool")
    message = str(raised.value)
    assert "secret" not in message
    assert url.replace("secret", "***") in message
    assert "sqlite:///" in message or "postgresql://" in message  # says what to use instead


# --- the normal path -------------------------------------------------------------------------


def test_records_from_many_threads_are_stored_exactly_once(database_url: str, make_store: MakeStore) -> None:
    store = make_store(database_url, batch_size=300)
    store.start()
    per_thread = [predictions(250, offset=timedelta(hours=index - 4)) for index in range(8)]
    feedback = [feedback_for(records[::2]) for records in per_thread]
    threads = [threading.Thread(target=record_all, args=(store, records, items)) for records, items in zip(per_thread, feedback, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert store.flush(30)
    assert store.queue_depth == 0
    assert store.spooled_records == 0
    sent = [record for records in per_thread for record in records]
    assert stored(database_url) == {"predictions": 2000, "distinct_predictions": 2000, "feedback": 1000, "distinct_feedback": 1000}
    assert stored_ids(database_url) == {record.id for record in sent}
    assert (store.count_predictions(), store.count_feedback()) == (2000, 1000)

    original = per_thread[0][7]  # created at UTC-04:00
    row = store.get_prediction(original.id)
    assert row is not None
    assert row["created_at"] == original.created_at
    assert row["created_at"].utcoffset() == timedelta(0)
    assert row["features"] == original.features
    assert (row["probability"], row["label"], row["endpoint"], row["request_id"]) == (original.probability, original.label, "predict", "req-7")
    assert store.knows_prediction(original.id)
    assert not store.knows_prediction(uuid.uuid4().hex)
    assert store.get_prediction(uuid.uuid4().hex) is None


def test_close_writes_everything_still_queued(database_url: str, make_store: MakeStore, spool: Path) -> None:
    store = make_store(database_url, batch_size=10_000, flush_seconds=60)
    store.start()
    records = predictions(1200)
    record_all(store, records, feedback_for(records[:300]))
    assert store.queue_depth == 1500  # nothing is due yet: the batch is not full and not old
    assert store.knows_prediction(records[-1].id)

    store.close()
    store.close()  # idempotent

    assert stored(database_url) == {"predictions": 1200, "distinct_predictions": 1200, "feedback": 300, "distinct_feedback": 300}
    assert spool_files(spool) == []
    late = predictions(5)
    store.record_predictions(late)  # a request finishing during shutdown is not lost either
    assert store.spooled_records == 5
    assert spooled_on_disk(spool) == 5


# --- outages ---------------------------------------------------------------------------------


def test_outage_spools_to_disk_and_replays_everything_once(
    postgres_url: str, proxy: TcpProxy, make_store: MakeStore, spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="churnops.store")
    proxy.start()
    store = make_store(through(proxy, postgres_url), batch_size=100)
    store.start()
    before = predictions(300)
    record_all(store, before, feedback_for(before[:100]))
    assert store.flush(30)
    assert stored(postgres_url)["predictions"] == 300

    proxy.stop()
    during = predictions(500)
    started = time.perf_counter()
    record_all(store, during, feedback_for(during[:200]))
    assert time.perf_counter() - started < 1.0  # the request path does not wait for the database
    assert store.flush(30)
    assert store.spooled_records == 700
    assert spooled_on_disk(spool) == 700
    assert store.knows_prediction(during[0].id)  # spooled, so feedback for it is accepted
    assert not store.knows_prediction(uuid.uuid4().hex)
    wait_until(lambda: not store.reachable()[0], what="reachable() reporting the outage")
    ok, why = store.reachable()
    assert not ok and why

    proxy.start()
    wait_until(lambda: store.spooled_records == 0, what="spool replay")
    assert spool_files(spool) == []
    assert stored(postgres_url) == {"predictions": 800, "distinct_predictions": 800, "feedback": 300, "distinct_feedback": 300}
    assert stored_ids(postgres_url) == {record.id for record in before + during}
    warnings = [entry for entry in caplog.records if entry.name == "churnops.store" and entry.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()  # once per outage, not per batch
    assert "password" not in warnings[0].getMessage()

    after = predictions(50)
    store.record_predictions(after)
    assert store.flush(30)
    assert store.spooled_records == 0  # back on the database, not the spool
    assert stored(postgres_url)["predictions"] == 850


def test_store_started_while_the_database_is_down_catches_up(postgres_url: str, proxy: TcpProxy, make_store: MakeStore) -> None:
    store = make_store(through(proxy, postgres_url))
    started = time.perf_counter()
    store.start()  # must not raise
    assert time.perf_counter() - started < 10
    assert store.reachable()[0] is False
    records = predictions(200)
    record_all(store, records, feedback_for(records[:20]))
    assert store.flush(30)
    assert store.spooled_records == 220
    assert store.knows_prediction(records[0].id)
    with pytest.raises(StoreError, match="cannot be read"):
        store.count_predictions()

    proxy.start()
    wait_until(counts_reach(store, 200, 20), what="catch-up after the database came up")
    wait_until(lambda: store.spooled_records == 0, what="spool emptied")
    assert stored(postgres_url) == {"predictions": 200, "distinct_predictions": 200, "feedback": 20, "distinct_feedback": 20}


def test_spool_left_by_a_previous_process_is_replayed_at_start(database_url: str, unreachable_url: str, make_store: MakeStore, spool: Path) -> None:
    first = make_store(unreachable_url)
    first.start()
    records = predictions(120)
    record_all(first, records, feedback_for(records[:40]))
    first.close()
    assert spooled_on_disk(spool) == 160

    still_down = make_store(unreachable_url)
    still_down.start()
    assert still_down.spooled_records == 160  # counted from disk
    assert still_down.knows_prediction(records[5].id)
    still_down.close()

    back = make_store(database_url)
    back.start()  # replays before it returns
    assert back.spooled_records == 0
    assert spool_files(spool) == []
    assert stored(database_url) == {"predictions": 120, "distinct_predictions": 120, "feedback": 40, "distinct_feedback": 40}


def test_replaying_the_same_spool_file_twice_adds_nothing(
    database_url: str, unreachable_url: str, make_store: MakeStore, spool: Path, tmp_path: Path
) -> None:
    down = make_store(unreachable_url)
    records = predictions(90)
    record_all(down, records, feedback_for(records[:30]))
    down.close()  # never started: everything goes to the spool
    saved = tmp_path / "saved"
    shutil.copytree(spool, saved)

    store = make_store(database_url)
    store.start()
    assert stored(database_url)["predictions"] == 90
    for path in spool_files(saved):
        shutil.copy(path, spool / path.name)
    assert store.replay_spool() == 120  # all of it left the spool ...
    assert store.spooled_records == 0
    assert stored(database_url) == {"predictions": 90, "distinct_predictions": 90, "feedback": 30, "distinct_feedback": 30}  # ... none of it twice
    assert not (spool / "rejected").exists()  # skipped as already stored, not refused


def test_a_row_the_database_refuses_is_set_aside_and_its_batch_stored(postgres_url: str, make_store: MakeStore, spool: Path) -> None:
    store = make_store(postgres_url, flush_seconds=60)
    store.start()
    records = predictions(10)
    poisoned = records[3] = dataclasses.replace(records[3], features={"Contract": "bad\x00byte"})  # PostgreSQL JSONB refuses NUL
    store.record_predictions(records)
    assert store.flush(30)

    assert stored_ids(postgres_url) == {record.id for record in records if record is not poisoned}
    rejected = list((spool / "rejected").glob("*.jsonl"))
    assert len(rejected) == 1 and poisoned.id in rejected[0].read_text()
    assert store.spooled_records == 0  # set aside, not retried forever
    assert not store.knows_prediction(poisoned.id)


WORKER = """
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from churnops.store import PredictionRecord, PredictionStore

store = PredictionStore(sys.argv[1], Path(sys.argv[2]), retry_seconds=60)
store.start()
now = datetime.now(UTC)
store.record_predictions([PredictionRecord(uuid.uuid4().hex, now, "m", "1", {}, 0.5, True, 0.5, 1.0, "batch", None) for _ in range(100)])
store.close()
sys.exit(1 if store.spooled_records else 0)
"""


def test_workers_starting_together_migrate_once(database_url: str, tmp_path: Path) -> None:
    """`churnops serve --workers 4`: every process migrates at start; one does the work, none fails or spools."""
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, database_url, str(tmp_path / f"spool-{index}")], stderr=subprocess.PIPE, text=True)
        for index in range(4)
    ]
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], errors
    assert stored(database_url)["predictions"] == 400
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.scalars(sa.select(sa.column("version_num")).select_from(sa.table(VERSION_TABLE))).all() == ["0003"]
    finally:
        engine.dispose()


def test_a_bare_postgresql_url_uses_the_driver_that_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLAlchemy 2.1 reads postgresql:// as psycopg 3; where only psycopg2 is installed (the API image) that one is used."""
    real_find_spec = importlib.util.find_spec
    assert engine._parse_url("postgresql://u:p@db:5432/store").drivername == "postgresql+psycopg"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real_find_spec(name, *a))
    assert engine._parse_url("postgresql://u:p@db:5432/store").drivername == "postgresql+psycopg2"
    assert engine._parse_url("postgresql+psycopg://u:p@db/store").drivername == "postgresql+psycopg"  # an explicit driver stays


def test_predictions_built_as_rows_equal_the_rows_of_the_same_records() -> None:
    """The API's path (Rows.of_predictions, no object per prediction) stores what record objects store."""
    from churnops.store.rows import Rows  # noqa: PLC0415 - the store's internal row form

    now = datetime.now(UTC)
    features = [{"tenure": 3, "MonthlyCharges": 70.5, "Contract": "One year", "TotalCharges": None}, {"odd": float("nan"), "n": 2}]
    ids = [uuid.uuid4().hex for _ in features]
    records = [
        PredictionRecord(key, now, "m", "7", customer, probability, probability >= 0.4, 0.4, 1.5, "batch", "req-1")
        for key, customer, probability in zip(ids, features, [0.25, 0.75], strict=True)
    ]
    built = Rows.of_predictions(
        ids,
        now,
        features,
        [0.25, 0.75],
        [False, True],
        model_name="m",
        model_version="7",
        threshold=0.4,
        latency_ms=1.5,
        endpoint="batch",
        request_id="req-1",
    )
    assert built.tables == Rows.of(records).tables
    assert built.tables["predictions"][1]["features"] == {"odd": None, "n": 2}  # NaN is stored as null either way
    assert list(Rows.from_lines(built.to_lines()).items()) == list(built.items())  # and through the spool/log format unchanged
