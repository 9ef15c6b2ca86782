"""Bulk writes of predictions: columns in, one statement per batch out.

SQLAlchemy's per-row parameter processing (JSON serialising, type conversion, dict binding) cost
about 90 µs a prediction; here a batch of predictions goes to the database as plain values:
SQLite `INSERT OR IGNORE` (the API's rows through `executemany`, batch scoring's columns a few
thousand rows per statement) in one transaction, PostgreSQL `COPY`: straight
into the table for a columnar batch (fresh ids), else (and when that hits a key already stored)
into a temporary table and `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, because COPY itself
cannot skip a stored key and replays rely on that. Batch scoring builds the batch as columns
(`PredictionColumns`, `features_json`): no Python object per prediction on its hot path.

Stored values are those the ordinary path (`rows.py` + SQLAlchemy) stores: the same JSON text
for the features, the same UTC times, floats and booleans.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from churnops.store.schema import PREDICTIONS, as_utc

# The columns a prediction fills (exported_at stays NULL until the Elasticsearch export sets it).
COLUMNS = ("id", "created_at", "model_name", "model_version", "features", "probability", "label", "threshold", "latency_ms", "endpoint", "request_id")
_COPY_TABLE = "churnops_copy_predictions"
MIN_COPY_ROWS = 50  # smaller batches of the API's writer keep the plain INSERT ... ON CONFLICT DO NOTHING
SQLITE_ROWS_PER_STATEMENT = 2900  # batch scoring's INSERTs: 31,900 values, under SQLite's limit of 32,766 per statement
SQLITE_OLD_VARIABLE_LIMIT = 999  # SQLite before 3.32, and drivers that cannot tell


@dataclass(frozen=True)
class PredictionColumns:
    """A batch of predictions from one model call site, as columns (what batch scoring stores)."""

    ids: Sequence[str]
    features: Sequence[str]  # one JSON document per prediction (`features_json`)
    probabilities: np.ndarray
    labels: np.ndarray  # bool
    latency_ms: float
    created_at: datetime
    model_name: str
    model_version: str
    threshold: float
    endpoint: str
    request_id: str | None

    def __len__(self) -> int:
        return len(self.ids)

    def values(self, created_at: Any) -> Iterator[tuple[Any, ...]]:
        """One tuple per prediction in `COLUMNS` order; `created_at` as the driver wants it."""
        constant = (self.model_name, self.model_version)
        tail = (self.threshold, self.latency_ms, self.endpoint, self.request_id)
        for key, features, probability, label in zip(self.ids, self.features, self.probabilities.tolist(), self.labels.tolist(), strict=True):
            yield (key, created_at, *constant, features, probability, label, *tail)

    def table(self, created_at: Any) -> np.ndarray:
        """The batch for SQLite as an object array, a row per prediction in `COLUMNS` order, filled column by column
        in C (its rows are bound as they are: no tuple per prediction)."""
        table = np.empty((len(self), len(COLUMNS)), dtype=object)
        labels = self.labels.astype(np.int64).tolist()  # 1/0, as SQLAlchemy stores a Boolean on SQLite (a bool costs an adapter lookup)
        columns = (self.ids, created_at, self.model_name, self.model_version, self.features, self.probabilities.tolist(), labels)
        for position, value in enumerate((*columns, self.threshold, self.latency_ms, self.endpoint, self.request_id)):
            table[:, position] = value
        return table

    @functools.cached_property
    def copy_data(self) -> bytes:
        """The batch in PostgreSQL COPY's text format, built once; `PredictionStore.storing_columns` has the thread
        handing the batch over build it, so the database reads one batch while the next is made."""
        # One template per batch: the fields shared by every prediction are encoded once.
        shared = [_copy_field(value).replace("%", "%%") for value in (as_utc(self.created_at), self.model_name, self.model_version)]
        tail = [_copy_field(value).replace("%", "%%") for value in (self.threshold, self.latency_ms, self.endpoint, self.request_id)]
        template = "\t".join(["%s", *shared, "%s", "%s", "%s", *tail]) + "\n"
        lines = (
            template % (key, _copy_text(features), repr(probability), "t" if label else "f")
            for key, features, probability, label in zip(self.ids, self.features, self.probabilities.tolist(), self.labels.tolist(), strict=True)
        )
        return "".join(lines).encode("utf-8")

    def rows(self) -> list[dict[str, Any]]:
        """As `rows.Rows` holds them: for the spool and the one-by-one path when the bulk write is refused."""
        created_at = as_utc(self.created_at)
        return [dict(zip(COLUMNS, (*row[:4], json.loads(row[4]), *row[5:]), strict=True)) for row in self.values(created_at)]


def features_json(frame: pd.DataFrame) -> list[str]:
    """Each row of a model frame as the JSON text the store keeps (what `_dump_json(_json_safe(row))` gives), column by column.

    Categories are encoded once per distinct value; numbers with Python's float/int repr (JSON's); missing and
    non-finite values become null (JSON has no NaN). Keys keep the frame's column order. Each column's cells
    carry their key (and the first and last column the braces), so a row is one `",".join` in C.
    """
    if frame.empty:
        return []
    last = len(frame.columns) - 1
    cells = [
        _encode_column(frame[column], ("{" if index == 0 else "") + json.dumps(str(column)) + ":", "}" if index == last else "")
        for index, column in enumerate(frame.columns)
    ]
    return list(map(",".join, zip(*cells, strict=True)))


def _encode_column(values: pd.Series, prefix: str, suffix: str) -> list[str]:
    """`prefix + JSON value + suffix` for each cell of one column, each distinct value encoded once (a column
    of customers holds few: a category, a tenure, a price)."""
    if pd.api.types.is_float_dtype(values):  # factorized by bit pattern: 0.0 == -0.0, but their text differs
        codes, bits = pd.factorize(values.to_numpy(dtype=np.float64, na_value=np.nan).view(np.int64))
        uniques = [repr(value) if math.isfinite(value) else "null" for value in bits.view(np.float64).tolist()]  # JSON has no NaN
    else:
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        uniques = [_encode_cell(value) for value in distinct.tolist()]
    table = np.array([f"{prefix}{value}{suffix}" for value in uniques] + [f"{prefix}null{suffix}"], dtype=object)
    return table[codes].tolist()  # type: ignore[no-any-return]  # code -1 (missing) picks the trailing "null"


def _encode_cell(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return json.dumps(value, separators=(",", ":"), default=str)


# --- writing ---------------------------------------------------------------------------------


def insert_columns(connection: Connection, batch: PredictionColumns) -> None:
    """Store a columnar batch in the current transaction; keys already stored are skipped."""
    if not len(batch):
        return
    created_at = as_utc(batch.created_at)
    if connection.dialect.name == "sqlite":
        _sqlite_insert_table(connection, batch.table(_sqlite_time_processor(connection)(created_at)))
        return
    data = batch.copy_data
    try:
        with connection.begin_nested():  # fresh ids are new keys: COPY them straight into the table
            _copy(connection, PREDICTIONS.name, data)
    except sa.exc.IntegrityError:  # a key already stored (a re-run, a replay): only the temporary table can skip it
        _postgres_copy(connection, data)


def insert_rows(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Store prediction rows (as `rows.Rows` holds them) in the current transaction; keys already stored are skipped."""
    if not rows:
        return
    dump = connection.dialect._json_serializer or json.dumps  # type: ignore[attr-defined]  # the engine's (engine.py)
    if connection.dialect.name == "sqlite":
        to_time = _sqlite_time_processor(connection)
        _sqlite_insert(connection, (_tuple(row, dump, to_time) for row in rows))
    elif len(rows) < MIN_COPY_ROWS:  # a temporary table per transaction is not worth it for a few rows
        connection.execute(postgresql.insert(PREDICTIONS).on_conflict_do_nothing(), list(rows))
    else:
        _postgres_insert(connection, (_tuple(row, dump, None) for row in rows))


def _tuple(row: dict[str, Any], dump: Any, to_time: Any) -> tuple[Any, ...]:
    created_at = as_utc(row["created_at"])
    return (
        row["id"],
        to_time(created_at) if to_time else created_at,
        row["model_name"],
        row["model_version"],
        dump(row["features"]),
        row["probability"],
        row["label"],
        row["threshold"],
        row["latency_ms"],
        row["endpoint"],
        row["request_id"],
    )


def _sqlite_time_processor(connection: Connection) -> Any:
    """Turns a time into the text SQLAlchemy's DateTime stores on SQLite ('2026-01-02 03:04:05.000000'), so ordering
    and reading back match the ordinary path. The dialect's own type: the generic one passes the datetime through, and
    sqlite3's default adapter writes a whole second without its fraction, which sorts before the same instant
    written by SQLAlchemy."""
    created_at = PREDICTIONS.c.created_at.type
    return created_at.dialect_impl(connection.dialect).bind_processor(connection.dialect)


def _sqlite_insert(connection: Connection, values: Iterable[tuple[Any, ...]]) -> None:
    """`executemany`, one row per statement (the API's writer); batch scoring's columns go through `_sqlite_insert_table`.

    sqlite3 lets go of the GIL for each statement it runs and takes it back only when the thread running
    Python offers it (every 5 ms by default): row by row beside a busy Python thread, a writer managed about
    250 rows/s here. Batch scoring's store thread therefore sends a few thousand rows per statement, and the
    database works that long without the GIL, beside the scoring. The API's writer stays row by row: binding
    thousands of values in one call holds the GIL that the event loop needs (/predict/batch lost a fifth).
    """
    connection.exec_driver_sql(_sqlite_statement(1), list(values))


def _sqlite_insert_table(connection: Connection, table: np.ndarray) -> None:
    """A columnar batch (`PredictionColumns.table`), `SQLITE_ROWS_PER_STATEMENT` rows per INSERT."""
    per_statement = max(1, min(SQLITE_ROWS_PER_STATEMENT, _sqlite_variable_limit(connection) // len(COLUMNS)))
    for start in range(0, len(table), per_statement):
        part = table[start : start + per_statement]
        connection.exec_driver_sql(_sqlite_statement(len(part)), tuple(part.ravel().tolist()))


@functools.cache
def _sqlite_statement(rows: int) -> str:
    marks = "(" + ", ".join("?" for _ in COLUMNS) + ")"
    return f"INSERT OR IGNORE INTO {PREDICTIONS.name} ({', '.join(COLUMNS)}) VALUES " + ", ".join([marks] * rows)  # noqa: S608  # nosec B608 - fixed table and column names, no input


def _sqlite_variable_limit(connection: Connection) -> int:
    """How many `?` one statement may hold (32,766 since SQLite 3.32; 999 before)."""
    getlimit = getattr(connection.connection.driver_connection, "getlimit", None)
    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)) if getlimit is not None else SQLITE_OLD_VARIABLE_LIMIT


def _postgres_insert(connection: Connection, values: Iterable[tuple[Any, ...]]) -> None:
    _postgres_copy(connection, "".join(_copy_line(row) for row in values).encode("utf-8"))


def _postgres_copy(connection: Connection, data: bytes) -> None:
    """COPY into a transaction-scoped temporary table, then insert what is not stored yet."""
    names = ", ".join(COLUMNS)
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {_COPY_TABLE} (LIKE {PREDICTIONS.name} INCLUDING DEFAULTS) ON COMMIT DROP")
    _copy(connection, _COPY_TABLE, data)
    connection.exec_driver_sql(
        f"INSERT INTO {PREDICTIONS.name} ({names}) SELECT {names} FROM {_COPY_TABLE} ON CONFLICT (id) DO NOTHING"  # noqa: S608  # nosec B608 - fixed names
    )
    connection.exec_driver_sql(f"DROP TABLE {_COPY_TABLE}")  # a second batch in the same transaction creates it again


def _copy(connection: Connection, table: str, data: bytes) -> None:
    """COPY's text format (UTF-8) into `table` (our own table names only)."""
    copy = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.cursor()
    try:
        if hasattr(cursor, "copy"):  # psycopg 3
            with cursor.copy(copy) as pipe:
                pipe.write(data)
        else:  # psycopg2 (the API image's driver)
            import io  # noqa: PLC0415 - only psycopg2 needs a file object

            cursor.copy_expert(copy, io.BytesIO(data), size=max(len(data), 8192))  # one read: each costs a GIL hand-over
    except dbapi.Error as exc:  # a raw cursor: wrap like SQLAlchemy would, so outages and refusals are told apart
        raise sa.exc.DBAPIError.instance(copy, None, exc, dbapi.Error, dialect=connection.dialect) from exc
    finally:
        cursor.close()


def _copy_line(row: tuple[Any, ...]) -> str:
    return "\t".join(map(_copy_field, row)) + "\n"


def _copy_field(value: Any) -> str:
    """COPY's text format: \\N for NULL, backslash escapes for the characters it gives meaning to."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)  # 'nan' and 'inf' are accepted by float8 too
    if isinstance(value, datetime):
        return value.isoformat()
    return _copy_text(str(value))


def _copy_text(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text
