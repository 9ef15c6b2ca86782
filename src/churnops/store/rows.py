"""Records as table rows: the unit of one transaction and of one spool file (JSON Lines)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson

from churnops.store.records import FeedbackRecord, PredictionRecord, Record, RequestRecord
from churnops.store.schema import FEEDBACK, PREDICTIONS, REQUESTS, as_utc

log = logging.getLogger("churnops.store")

_DATETIME_COLUMNS = {"predictions": "created_at", "feedback": "received_at", "requests": "at"}


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


_PLAIN = frozenset({str, int, bool, type(None)})


def _safe_features(features: Any) -> dict[str, Any]:
    """`_json_safe` of a features dict; the common case (plain scalars, finite floats) in one cheap pass."""
    values = features.values()
    if all(type(value) in _PLAIN or (type(value) is float and math.isfinite(value)) for value in values) and all(
        type(key) is str for key in features
    ):
        return dict(features)
    return _json_safe(dict(features))  # type: ignore[no-any-return]


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


# How a record field becomes a column value, by the field's annotation (records.py): plain Python
# scalars, UTC times, JSON-safe features. A value that cannot be converted raises here, not in the database.
_COLUMN_VALUE: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "str | None": _optional_str,
    "float": float,
    "bool": bool,
    "int": int,
    "datetime": as_utc,
    "dict[str, Any]": _safe_features,
}
# Each record type's table. The order is the insert order.
_TABLE_OF: dict[type, str] = {PredictionRecord: "predictions", FeedbackRecord: "feedback", RequestRecord: "requests"}


# (field, converter) per record type, looked up once rather than per record (fields() is slow on the writer's hot path).
_CONVERTERS: dict[type, list[tuple[str, Callable[[Any], Any]]]] = {
    kind: [(item.name, _COLUMN_VALUE[str(item.type)]) for item in fields(kind)] for kind in _TABLE_OF
}


def _row(record: Record) -> dict[str, Any]:
    return {name: convert(getattr(record, name)) for name, convert in _CONVERTERS[type(record)]}


TABLES = {"predictions": PREDICTIONS, "feedback": FEEDBACK, "requests": REQUESTS}


@dataclass(slots=True)
class Rows:
    """A batch as table rows, the unit of one transaction and of one spool file."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {name: [] for name in TABLES})

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    @classmethod
    def of(cls, records: Iterable[Record]) -> Rows:
        """A malformed record (a caller's bug) is logged and dropped so it cannot stop the writer."""
        rows = cls()
        for record in records:
            try:
                rows.tables[_TABLE_OF[type(record)]].append(_row(record))
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                log.error("Dropping a malformed prediction store record %r: %s", record, exc)
        return rows

    @classmethod
    def of_predictions(  # noqa: PLR0913 - one argument per stored column
        cls,
        ids: Sequence[str],
        created_at: datetime,
        features: Iterable[dict[str, Any]],
        probabilities: Iterable[float],
        labels: Iterable[bool],
        *,
        model_name: str,
        model_version: str,
        threshold: float,
        latency_ms: float,
        endpoint: str,
        request_id: str | None | Sequence[str | None],
        plain_features: bool = False,
    ) -> Rows:
        """What `of` gives for the same PredictionRecords, without an object per prediction (the API's batches).

        `request_id`: the request's, or one per prediction (single customers scored as a group).

        `plain_features`: the features are already JSON-safe (the API's customer model admits only strings,
        whole numbers, finite numbers and null), so the per-value check is skipped.
        """
        safe = dict if plain_features else _safe_features
        at = as_utc(created_at)
        name, version, cutoff, latency = str(model_name), str(model_version), float(threshold), float(latency_ms)
        request_ids = [request_id] * len(ids) if request_id is None or isinstance(request_id, str) else request_id
        rows = [
            {
                "id": key,
                "created_at": at,
                "model_name": name,
                "model_version": version,
                "features": safe(customer),
                "probability": float(probability),
                "label": bool(label),
                "threshold": cutoff,
                "latency_ms": latency,
                "endpoint": endpoint,
                "request_id": request,
            }
            for key, customer, probability, label, request in zip(ids, features, probabilities, labels, request_ids, strict=True)
        ]
        return cls.single("predictions", rows)

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(table, row) pairs, in insert order: what the writer's queue holds."""
        for table, rows in self.tables.items():
            for row in rows:
                yield table, row

    @classmethod
    def of_items(cls, items: Iterable[tuple[str, dict[str, Any]]]) -> Rows:
        rows = cls()
        for table, row in items:
            rows.tables[table].append(row)
        return rows

    @classmethod
    def single(cls, table: str, rows: list[dict[str, Any]]) -> Rows:
        batch = cls()
        batch.tables[table] = rows
        return batch

    def prediction_ids(self) -> list[str]:
        return [row["id"] for row in self.tables["predictions"]]

    def chunks(self, size: int) -> Iterator[Rows]:
        for table, rows in self.tables.items():
            for start in range(0, len(rows), size):
                yield Rows.single(table, rows[start : start + size])

    def to_lines(self) -> Iterator[str]:
        for table, row in self.items():
            yield _line(table, row).decode()

    def to_payload(self) -> bytes:
        """JSON Lines as bytes, newline-terminated (a write-ahead frame's payload)."""
        return b"".join(_line(table, row) + b"\n" for table, row in self.items())

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Rows:
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


def _line(table: str, row: dict[str, Any]) -> bytes:
    """orjson writes times as isoformat() does (from_lines reads them back with fromisoformat)."""
    return orjson.dumps({"table": table, "row": row}, default=_encode_json)


def _encode_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --- the spool folder ------------------------------------------------------------------------
