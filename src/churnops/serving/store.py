"""The prediction store: every prediction and every feedback, persisted off the request path.

The request path only appends records to an in-memory queue. One writer thread writes them
in batches, one transaction per batch. While the database cannot be reached, batches are
spooled to local disk as JSON Lines and replayed once it is back, so an outage delays the
monitoring data but never loses it. Inserts skip rows whose key is already stored, which
makes every replay idempotent (a batch whose commit was lost in transit is spooled and
replayed without duplicating anything).

Schema changes go through the Alembic migrations in `store_migrations/`, run by `start()`.
The version table is `churnops_store_version`, so the store can share a database with MLflow.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import re
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    InvalidRequestError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from churnops.errors import ConfigError, StoreError

log = logging.getLogger("churnops.store")

VERSION_TABLE = "churnops_store_version"
MIGRATIONS = Path(__file__).with_name("store_migrations")
PROBE_CACHE_SECONDS = 1.0
MONITORING_CACHE_SECONDS = 5.0
# libpq options that make an outage show within seconds instead of minutes (a URL's own values win).
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 3,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "application_name": "churnops-store",
}
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Serialises migrations from several workers on one PostgreSQL database.
_MIGRATION_LOCK_KEY = zlib.crc32(VERSION_TABLE.encode())
# Alembic's `context` is module-global: two stores in one process must not migrate at once.
_ALEMBIC_LOCK = threading.Lock()


# --- records ---------------------------------------------------------------------------------


def _new_key() -> str:
    return uuid.uuid4().hex


def new_prediction_ids(count: int) -> list[str]:
    """128 random bits per id, as hex; one urandom call for the whole batch (uuid4() per row costs ~6 µs each)."""
    raw = os.urandom(16 * count).hex()
    return [raw[start : start + 32] for start in range(0, 32 * count, 32)]


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One scored customer, as the API answered it."""

    id: str
    created_at: datetime
    model_name: str
    model_version: str
    features: dict[str, Any]
    probability: float
    label: bool
    threshold: float
    latency_ms: float
    endpoint: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """The true outcome for a prediction. `feedback_id` is the key that makes replays idempotent."""

    prediction_id: str
    churned: bool
    received_at: datetime
    request_id: str | None
    feedback_id: str = field(default_factory=_new_key)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One answered HTTP request (probes and scrapes excluded): the service's volume, latency and errors."""

    id: str
    at: datetime
    endpoint: str
    method: str
    status: int
    latency_ms: float
    request_id: str | None


Record = PredictionRecord | FeedbackRecord | RequestRecord


# --- schema ----------------------------------------------------------------------------------


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out on every backend (SQLite keeps no offset; naive input is taken as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else _utc(value)


JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

METADATA = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

PREDICTIONS = sa.Table(
    "predictions",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("model_name", sa.String(), nullable=False),
    sa.Column("model_version", sa.String(), nullable=False, index=True),
    sa.Column("features", JSON_DOCUMENT, nullable=False),
    sa.Column("probability", sa.Float(), nullable=False),
    sa.Column("label", sa.Boolean(), nullable=False),
    sa.Column("threshold", sa.Float(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("endpoint", sa.String(), nullable=False),
    sa.Column("request_id", sa.String(), nullable=True),
    # Set once the row is in Elasticsearch; rows replayed late from a spool still have it unset.
    sa.Column("exported_at", UtcDateTime(), nullable=True, index=True),
)

# No foreign key to predictions: feedback may arrive before its prediction is written.
FEEDBACK = sa.Table(
    "feedback",
    METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("feedback_id", sa.String(32), nullable=False, unique=True),
    sa.Column("prediction_id", sa.String(32), nullable=False, index=True),
    sa.Column("churned", sa.Boolean(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("request_id", sa.String(), nullable=True),
    sa.Column("exported_at", UtcDateTime(), nullable=True, index=True),
)

REQUESTS = sa.Table(
    "requests",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=False, index=True),
    sa.Column("endpoint", sa.String(), nullable=False),
    sa.Column("method", sa.String(), nullable=False),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("request_id", sa.String(), nullable=True),
)

# Written by monitoring runs, not by the API; exported to Elasticsearch like the rest.
ALERTS = sa.Table(
    "alerts",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("raised_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("rule", sa.String(), nullable=False),
    sa.Column("metric", sa.String(), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("threshold", sa.Float(), nullable=False),
    sa.Column("window_start", UtcDateTime(), nullable=False),
    sa.Column("window_end", UtcDateTime(), nullable=False),
    sa.Column("model_version", sa.String(), nullable=True),
    sa.Column("monitoring_run_id", sa.String(), nullable=True),
    sa.Column("message", sa.String(), nullable=False),
    sa.Column("exported_at", UtcDateTime(), nullable=True, index=True),
)

# One row per monitoring run: the latest is what the API exports as Prometheus gauges.
MONITORING_RUNS = sa.Table(
    "monitoring_runs",
    METADATA,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("window_start", UtcDateTime(), nullable=False),
    sa.Column("window_end", UtcDateTime(), nullable=False, index=True),
    sa.Column("model_version", sa.String(), nullable=True),
    sa.Column("predictions", sa.Integer(), nullable=False),
    sa.Column("share_drifted_features", sa.Float(), nullable=True),
    sa.Column("prediction_drift_score", sa.Float(), nullable=True),
    sa.Column("roc_auc", sa.Float(), nullable=True),
    sa.Column("alerts", sa.Integer(), nullable=False),
)

_DATETIME_COLUMNS = {"predictions": "created_at", "feedback": "received_at", "requests": "at"}
# What reading a damaged or foreign spool file can raise.
_UNREADABLE = (OSError, ValueError, KeyError, TypeError)


# --- rows: what is written to the database and to the spool ---------------------------------


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_safe(value: Any) -> Any:
    """JSON has no NaN/inf and PostgreSQL refuses them: store null. Numpy scalars become Python ones."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if hasattr(value, "item"):
        return _json_safe(value.item())
    return str(value)


def _prediction_row(record: PredictionRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "created_at": _utc(record.created_at),
        "model_name": str(record.model_name),
        "model_version": str(record.model_version),
        "features": _json_safe(dict(record.features)),
        "probability": float(record.probability),
        "label": bool(record.label),
        "threshold": float(record.threshold),
        "latency_ms": float(record.latency_ms),
        "endpoint": str(record.endpoint),
        "request_id": None if record.request_id is None else str(record.request_id),
    }


def _feedback_row(record: FeedbackRecord) -> dict[str, Any]:
    return {
        "feedback_id": str(record.feedback_id),
        "prediction_id": str(record.prediction_id),
        "churned": bool(record.churned),
        "received_at": _utc(record.received_at),
        "request_id": None if record.request_id is None else str(record.request_id),
    }


def _request_row(record: RequestRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "at": _utc(record.at),
        "endpoint": str(record.endpoint),
        "method": str(record.method),
        "status": int(record.status),
        "latency_ms": float(record.latency_ms),
        "request_id": None if record.request_id is None else str(record.request_id),
    }


# Each record type: its table and how it becomes a row. The order is the insert order.
_ROW_OF: dict[type, tuple[str, Any]] = {
    PredictionRecord: ("predictions", _prediction_row),
    FeedbackRecord: ("feedback", _feedback_row),
    RequestRecord: ("requests", _request_row),
}
_TABLES = {"predictions": PREDICTIONS, "feedback": FEEDBACK, "requests": REQUESTS}


@dataclass(slots=True)
class _Rows:
    """A batch as table rows, the unit of one transaction and of one spool file."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {name: [] for name in _TABLES})

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    @classmethod
    def of(cls, records: Iterable[Record]) -> _Rows:
        """A malformed record (a caller's bug) is logged and dropped so it cannot stop the writer."""
        rows = cls()
        for record in records:
            try:
                table, to_row = _ROW_OF[type(record)]
                rows.tables[table].append(to_row(record))
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                log.error("Dropping a malformed prediction store record %r: %s", record, exc)
        return rows

    @classmethod
    def single(cls, table: str, rows: list[dict[str, Any]]) -> _Rows:
        batch = cls()
        batch.tables[table] = rows
        return batch

    def prediction_ids(self) -> list[str]:
        return [row["id"] for row in self.tables["predictions"]]

    def chunks(self, size: int) -> Iterator[_Rows]:
        for table, rows in self.tables.items():
            for start in range(0, len(rows), size):
                yield _Rows.single(table, rows[start : start + size])

    def to_lines(self) -> Iterator[str]:
        for table, rows in self.tables.items():
            for row in rows:
                yield json.dumps({"table": table, "row": row}, default=_encode_json, separators=(",", ":"))

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> _Rows:
        rows = cls()
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            table, row = item["table"], item["row"]
            column = _DATETIME_COLUMNS[table]
            row[column] = datetime.fromisoformat(row[column])
            rows.tables[table].append(row)
        return rows


def _encode_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --- the spool folder ------------------------------------------------------------------------


class _Spool:
    """JSON Lines files, one per batch, written atomically (temp name, fsync, rename).

    A crash can leave a hidden `.tmp` file, never a half file under a final name. The record
    count is part of the file name, so counting the spool needs a directory listing only.
    """

    _COUNT = re.compile(r"-(\d+)\.jsonl$")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rejected = folder / "rejected"

    def files(self) -> list[Path]:
        """Oldest first (names start with a nanosecond timestamp)."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.jsonl"))

    def write(self, rows: _Rows, folder: Path | None = None) -> Path:
        folder = folder or self.folder
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{len(rows)}.jsonl"
        temp = folder / f".{name}.tmp"
        try:
            with temp.open("w", encoding="utf-8") as file:
                for line in rows.to_lines():
                    file.write(line + "\n")
                file.flush()
                os.fsync(file.fileno())
            final = temp.replace(folder / name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_folder(folder)
        return final

    def read(self, path: Path) -> _Rows:
        with path.open(encoding="utf-8") as file:
            return _Rows.from_lines(file)

    def count(self) -> int:
        return sum(self.count_file(path) for path in self.files())

    def count_file(self, path: Path) -> int:
        match = self._COUNT.search(path.name)
        if match:
            return int(match.group(1))
        try:
            return len(self.read(path))
        except _UNREADABLE:
            return 0

    def quarantine(self, path: Path, reason: object) -> None:
        """Set aside a file that cannot be read, so it is kept but no longer retried."""
        target = self.rejected / path.name
        try:
            self.rejected.mkdir(parents=True, exist_ok=True)
            path.replace(target)
        except FileNotFoundError:
            return  # another worker sharing the folder got to it first
        except OSError as exc:
            log.error("Spool file %s cannot be read (%s) nor moved aside (%s); it will be retried", path, reason, exc)
            return
        log.error("Spool file %s cannot be read (%s); moved to %s", path, reason, target)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# --- engine ----------------------------------------------------------------------------------


def _redact(url: str) -> str:
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def _parse_url(url: str) -> URL:
    """Only SQLite files and PostgreSQL: replays rely on their insert-or-ignore statements."""
    hint = "Set CHURNOPS_STORE_URL (or --store-url) to sqlite:///path/to/predictions.db or postgresql://user:password@host:5432/database."
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"Prediction store URL {_redact(url)!r} is not a database URL ({exc}). {hint}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"Prediction store URL {_redact(url)!r} uses {backend!r}; only SQLite and PostgreSQL are supported. {hint}")
    if backend == "sqlite" and (parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"):
        raise ConfigError(f"Prediction store URL {_redact(url)!r} is an in-memory SQLite database, which would lose every record. {hint}")
    return parsed


def create_store_engine(url: str) -> Engine:
    """An engine for the store: WAL on SQLite, quick outage detection on PostgreSQL."""
    parsed = _parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return _postgres_engine(parsed)
    except (ArgumentError, NoSuchModuleError, InvalidRequestError, ImportError) as exc:
        raise ConfigError(
            f"Prediction store URL {_redact(url)!r} cannot be used: {exc}. Install its driver or use postgresql:// (psycopg2)."
        ) from None


def _dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _sqlite_engine(url: URL) -> Engine:
    if url.database is None:  # _parse_url refuses such URLs; the check also narrows the type
        raise ConfigError(f"Prediction store URL {url.render_as_string(hide_password=True)!r} names no SQLite database file.")
    try:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # connecting fails too; the store spools until the folder can be created
    engine = sa.create_engine(url, json_serializer=_dump_json, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the monitoring read while the writer writes; NORMAL sync is durable enough with WAL."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if url.get_driver_name() in ("psycopg2", "psycopg"):
        connect_args = {key: value for key, value in POSTGRES_CONNECT_ARGS.items() if key not in url.query}
    return sa.create_engine(url, pool_pre_ping=True, json_serializer=_dump_json, connect_args=connect_args)


def _is_outage(exc: BaseException) -> bool:
    """Errors that mean "the database cannot be reached right now", as opposed to a refused row."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _describe(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else 'no details'}"


def migrate(engine: Engine) -> None:
    """Bring the store's schema to the newest migration; raises SQLAlchemyError when unreachable."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with _ALEMBIC_LOCK, engine.connect() as connection:
        _lock_for_migration(connection)
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise ConfigError(
                f"Prediction store {engine.url.render_as_string(hide_password=True)} cannot be migrated: {exc}. "
                "It may belong to a newer churnops; point CHURNOPS_STORE_URL at another database or upgrade churnops."
            ) from exc
        connection.commit()


def _lock_for_migration(connection: sa.Connection) -> None:
    """Several workers may start at once: one migrates, the others wait and find the schema at head."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})


# --- the store -------------------------------------------------------------------------------


class PredictionStore:
    """Persists predictions and feedback without ever blocking or failing a request.

    Counters and the queue are guarded by one lock with two conditions: `_work` wakes the
    writer, `_done` wakes `flush()` callers. Database setup and replays hold `_replay_lock`.
    """

    def __init__(
        self,
        url: str,
        spool_dir: Path,
        batch_size: int = 500,
        flush_seconds: float = 0.2,
        retry_seconds: float = 5.0,
    ) -> None:
        if batch_size < 1 or flush_seconds <= 0 or retry_seconds <= 0:
            raise ConfigError(
                f"Prediction store needs batch_size >= 1 and positive flush/retry seconds, got {batch_size}, {flush_seconds}, {retry_seconds}."
            )
        self._engine = create_store_engine(url)
        self._label = self._engine.url.render_as_string(hide_password=True)
        self._spool = _Spool(Path(spool_dir))
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._retry_seconds = retry_seconds
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        self._inserts = {name: insert(table).on_conflict_do_nothing() for name, table in _TABLES.items()}

        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queue: deque[Record] = deque()
        self._oldest_at = 0.0  # when the oldest queued record arrived (monotonic)
        self._enqueued = 0
        self._completed = 0
        self._flush_requests = 0
        self._pending_ids: set[str] = set()  # predictions queued or spooled, not yet in the database
        self._spooled = 0
        self._held: list[_Rows] = []  # batches neither the database nor the disk took
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None

        self._replay_lock = threading.Lock()
        self._spool_lock = threading.Lock()  # spool writes vs. recounts
        self._migrated = False
        self._healthy = False  # the writer's view: batches go to the database (True) or straight to the spool
        self._outage_logged = False
        self._next_retry = 0.0
        self._probe_lock = threading.Lock()
        self._probe: tuple[float, tuple[bool, str | None]] | None = None
        self._latest_monitoring: tuple[float, dict[str, Any] | None] | None = None

    # -- lifecycle --

    def start(self) -> None:
        """Migrate and replay the spool now if the database answers, then start the writer. Never fails on an outage."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this PredictionStore is closed; create a new one")
            if self._thread is not None:
                return
        self._load_spool()
        self._recover()
        self._thread = threading.Thread(target=self._run, name="churnops-store-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued (spool what cannot be written), stop the writer. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = self._stopping = True
            self._work.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("Prediction store writer did not finish within %.0fs; spooling what is still queued", timeout)
        self._drain_to_spool()
        self._spool_held()
        atexit.unregister(self.close)
        self._engine.dispose()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything recorded so far is written or spooled; False if that took longer than `timeout`."""
        if self._thread is None or not self._thread.is_alive():
            self._drain_to_spool()
            return True
        with self._lock:
            target = self._enqueued
            self._flush_requests += 1
            self._work.notify_all()
            try:
                return self._done.wait_for(lambda: self._completed >= target, timeout)
            finally:
                self._flush_requests -= 1

    # -- the request path --

    def record_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Queue predictions for the writer; never blocks on the database."""
        self._enqueue(records, [record.id for record in records])

    def record_feedback(self, record: FeedbackRecord) -> None:
        """Queue a feedback for the writer; never blocks on the database."""
        self._enqueue([record], [])

    def record_requests(self, records: Sequence[RequestRecord]) -> None:
        """Queue answered requests (for the service's latency and error figures)."""
        self._enqueue(records, [])

    def _enqueue(self, records: Sequence[Record], prediction_ids: list[str]) -> None:
        if not records:
            return
        with self._lock:
            self._pending_ids.update(prediction_ids)
            if not self._closed:
                if not self._queue:
                    self._oldest_at = time.monotonic()
                self._queue.extend(records)
                self._enqueued += len(records)
                if len(self._queue) == len(records) or len(self._queue) >= self._batch_size:
                    self._work.notify()
                return
        # Recorded after close (e.g. a request finishing during shutdown): straight to disk.
        self._spool_rows(_Rows.of(records))

    # -- status --

    @property
    def queue_depth(self) -> int:
        with self._lock:
            return self._enqueued - self._completed + sum(len(rows) for rows in self._held)

    @property
    def spooled_records(self) -> int:
        return self._spooled

    def reachable(self) -> tuple[bool, str | None]:
        """(True, None) or (False, why), from a `SELECT 1` at most once a second."""
        with self._probe_lock:
            if self._probe is not None and time.monotonic() - self._probe[0] < PROBE_CACHE_SECONDS:
                return self._probe[1]
            try:
                with self._engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
                result: tuple[bool, str | None] = (True, None)
            except SQLAlchemyError as exc:
                result = (False, _describe(exc))
            self._probe = (time.monotonic(), result)
            return result

    def knows_prediction(self, prediction_id: str) -> bool:
        """Whether feedback for this id can be attached: queued, spooled or stored."""
        with self._lock:
            if prediction_id in self._pending_ids:
                return True
        if not self.reachable()[0]:
            return False
        try:
            with self._engine.connect() as connection:
                found = connection.execute(sa.select(PREDICTIONS.c.id).where(PREDICTIONS.c.id == prediction_id)).first()
        except SQLAlchemyError:
            return False
        return found is not None

    def count_predictions(self) -> int:
        return self._count(PREDICTIONS)

    def count_feedback(self) -> int:
        return self._count(FEEDBACK)

    def get_prediction(self, prediction_id: str) -> dict[str, Any] | None:
        """A stored prediction as a dict (features decoded), or None; for tests and debugging."""
        row = self._read(lambda connection: connection.execute(sa.select(PREDICTIONS).where(PREDICTIONS.c.id == prediction_id)).first())
        return None if row is None else dict(row._mapping)

    def latest_monitoring(self) -> dict[str, Any] | None:
        """The newest monitoring run's headline figures (for the API's gauges); None if none yet or unreadable."""
        with self._probe_lock:
            if self._latest_monitoring is not None and time.monotonic() - self._latest_monitoring[0] < MONITORING_CACHE_SECONDS:
                return self._latest_monitoring[1]
        try:
            with self._engine.connect() as connection:
                row = connection.execute(sa.select(MONITORING_RUNS).order_by(MONITORING_RUNS.c.window_end.desc()).limit(1)).first()
            latest = None if row is None else dict(row._mapping)
        except SQLAlchemyError:
            latest = None  # not migrated yet, or unreachable: no gauge values rather than a failed scrape
        with self._probe_lock:
            self._latest_monitoring = (time.monotonic(), latest)
        return latest

    def _count(self, table: sa.Table) -> int:
        return int(self._read(lambda connection: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()))

    def _read(self, query: Any) -> Any:
        try:
            with self._engine.connect() as connection:
                return query(connection)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Prediction store {self._label} cannot be read ({_describe(exc)}). Check that the database is up and reachable."
            ) from exc

    # -- replay --

    def replay_spool(self) -> int:
        """Write the spooled records now; returns how many left the spool (already stored ones included)."""
        try:
            return self._catch_up()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Prediction store {self._label} cannot be reached ({_describe(exc)}); spooled records stay in {self._spool.folder} and are retried."
            ) from exc

    def _catch_up(self) -> int:
        """Migrate if needed, then write held batches and spool files; raises SQLAlchemyError on an outage."""
        with self._replay_lock:
            self._ensure_migrated()
            while self._held:
                self._write(self._held[0])
                with self._lock:
                    self._held.pop(0)
            replayed = 0
            for path in self._spool.files():
                replayed += self._replay_file(path)
            with self._spool_lock:
                self._spooled = self._spool.count()  # other workers may share the folder
            return replayed

    def _replay_file(self, path: Path) -> int:
        try:
            rows = self._spool.read(path)
        except FileNotFoundError:
            return 0  # another worker sharing the folder replayed it
        except _UNREADABLE as exc:
            self._spool.quarantine(path, exc)
            return 0
        self._write(rows)
        with self._spool_lock:
            path.unlink(missing_ok=True)
            self._spooled = max(0, self._spooled - len(rows))
        return len(rows)

    def _load_spool(self) -> None:
        """Count what a previous process left on disk and remember its ids for `knows_prediction`."""
        ids: set[str] = set()
        for path in self._spool.files():
            try:
                ids.update(self._spool.read(path).prediction_ids())
            except _UNREADABLE as exc:
                self._spool.quarantine(path, exc)
        with self._spool_lock:
            self._spooled = self._spool.count()
        with self._lock:
            self._pending_ids |= ids
        if self._spooled:
            log.info("Prediction store spool %s holds %d records from before; replaying them", self._spool.folder, self._spooled)

    # -- database --

    def _ensure_migrated(self) -> None:
        if not self._migrated:
            migrate(self._engine)
            self._migrated = True

    def _write(self, rows: _Rows) -> None:
        """Store a batch in one transaction; raises only when the database cannot be reached."""
        refusal = self._try_insert(rows)
        if refusal is not None:
            self._insert_one_by_one(rows, refusal)
        with self._lock:
            self._pending_ids.difference_update(rows.prediction_ids())

    def _insert(self, rows: _Rows) -> None:
        with self._engine.begin() as connection:
            for table, table_rows in rows.tables.items():
                if table_rows:
                    connection.execute(self._inserts[table], table_rows)

    def _insert_one_by_one(self, rows: _Rows, cause: SQLAlchemyError) -> None:
        """One row the database refuses must not keep its whole batch out: refused rows are set aside on disk."""
        refused = _Rows(
            {
                table: [row for row in table_rows if self._try_insert(_Rows.single(table, [row])) is not None]
                for table, table_rows in rows.tables.items()
            }
        )
        if not refused:
            return
        try:
            kept = f"they are kept in {self._spool.write(refused, self._spool.rejected)}"
        except OSError as exc:
            kept = f"and they could not be written to {self._spool.rejected} either ({exc})"
        log.error("Prediction store %s refused %d of %d records (%s); %s", self._label, len(refused), len(rows), _describe(cause), kept)

    def _try_insert(self, rows: _Rows) -> SQLAlchemyError | None:
        """None when stored; the database's refusal otherwise. An outage is raised, not returned."""
        try:
            self._insert(rows)
        except SQLAlchemyError as exc:
            if _is_outage(exc):
                raise
            return exc
        return None

    # -- the writer thread --

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                if batch:
                    self._process(batch)
                else:
                    self._recover()
            except Exception:
                log.exception("Prediction store writer hit an unexpected error; it carries on")

    def _next_batch(self) -> list[Record] | None:
        """Wait for work: a due batch, or [] when a retry is due; None once stopped and drained."""
        with self._lock:
            while True:
                now = time.monotonic()
                if not self._stopping and self._needs_retry() and now >= self._next_retry:
                    return []
                if self._queue and self._batch_due(now):
                    count = min(self._batch_size, len(self._queue))
                    return [self._queue.popleft() for _ in range(count)]
                if self._stopping:
                    return None
                self._work.wait(self._seconds_to_wait(now))

    def _batch_due(self, now: float) -> bool:
        return len(self._queue) >= self._batch_size or self._stopping or self._flush_requests > 0 or now - self._oldest_at >= self._flush_seconds

    def _needs_retry(self) -> bool:
        return not self._healthy or self._spooled > 0 or bool(self._held)

    def _seconds_to_wait(self, now: float) -> float:
        wake_at = now + 1.0
        if self._queue:
            wake_at = min(wake_at, self._oldest_at + self._flush_seconds)
        if self._needs_retry():
            wake_at = min(wake_at, self._next_retry)
        return max(wake_at - now, 0.001)

    def _process(self, records: list[Record]) -> None:
        try:
            rows = _Rows.of(records)
            if rows:
                self._store(rows)
        finally:
            with self._lock:
                self._completed += len(records)
                self._done.notify_all()

    def _store(self, rows: _Rows) -> None:
        """To the database while it answers, else to the spool (the retry loop finds out when it is back)."""
        if self._healthy:
            try:
                self._write(rows)
                return
            except SQLAlchemyError as exc:
                self._enter_outage(exc)
        self._spool_rows(rows)

    def _recover(self) -> None:
        """Migrate, replay the spool; only when all of it worked do batches go to the database again."""
        self._next_retry = time.monotonic() + self._retry_seconds
        try:
            replayed = self._catch_up()
        except SQLAlchemyError as exc:
            self._enter_outage(exc)
            return
        if self._outage_logged or replayed:
            log.info("Prediction store %s is reachable; replayed %d spooled records", self._label, replayed)
        self._outage_logged = False
        self._healthy = True

    def _enter_outage(self, exc: SQLAlchemyError) -> None:
        """Warn once per outage, not once per batch."""
        self._healthy = False
        self._next_retry = time.monotonic() + self._retry_seconds
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "Prediction store %s is unreachable (%s); spooling records to %s and retrying every %.0fs",
                self._label,
                _describe(exc),
                self._spool.folder,
                self._retry_seconds,
            )
        else:
            log.debug("Prediction store %s still unreachable: %s", self._label, _describe(exc))

    # -- spooling --

    def _spool_rows(self, rows: _Rows) -> None:
        """Append a batch to the spool; if even the disk refuses, keep it in memory for the next retry."""
        if not rows:
            return
        try:
            with self._spool_lock:
                self._spool.write(rows)
                self._spooled += len(rows)
        except OSError as exc:
            log.error("Cannot write %d records to the spool folder %s (%s); keeping them in memory", len(rows), self._spool.folder, exc)
            with self._lock:
                self._held.append(rows)

    def _drain_to_spool(self) -> None:
        """Spool whatever is still queued (no writer running, or it is stuck on the database)."""
        with self._lock:
            records = list(self._queue)
            self._queue.clear()
        if not records:
            return
        try:
            for rows in _Rows.of(records).chunks(self._batch_size):
                self._spool_rows(rows)
        finally:
            with self._lock:
                self._completed += len(records)
                self._done.notify_all()

    def _spool_held(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for rows in held:
            self._spool_rows(rows)
        lost = sum(len(rows) for rows in self._held)
        if lost:
            log.error("Prediction store lost %d records: neither %s nor the spool folder %s could take them", lost, self._label, self._spool.folder)
