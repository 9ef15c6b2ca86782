"""A time window of the prediction store: predictions (with any feedback they got) and requests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from churnops.data.contract import DatasetContract
from churnops.data.loading import to_model_frame
from churnops.errors import StoreError
from churnops.store import FEEDBACK, PREDICTIONS, REQUESTS, migrate
from churnops.timespan import Window, parse_duration, parse_time  # parsing lives in a light module the CLI checks with

__all__ = ["PREDICTION_COLUMNS", "Window", "WindowData", "parse_duration", "parse_time", "read_window"]


@dataclass(frozen=True)
class WindowData:
    window: Window
    predictions: pd.DataFrame  # model-ready feature columns + probability, label, churned (NaN without feedback), ...
    requests: pd.DataFrame  # endpoint, method, status, latency_ms


PREDICTION_COLUMNS = ["id", "created_at", "model_version", "probability", "label", "threshold", "latency_ms"]


def read_window(engine: Engine, window: Window, contract: DatasetContract) -> WindowData:
    """Everything the store holds for the window; feedback joined on prediction id (the latest one wins)."""
    latest_feedback = sa.select(
        FEEDBACK.c.prediction_id,
        FEEDBACK.c.churned,
        sa.func.row_number().over(partition_by=FEEDBACK.c.prediction_id, order_by=FEEDBACK.c.id.desc()).label("rank"),
    ).subquery()
    predictions_query = (
        sa.select(*(PREDICTIONS.c[name] for name in PREDICTION_COLUMNS), PREDICTIONS.c.features, latest_feedback.c.churned)
        .select_from(
            PREDICTIONS.outerjoin(latest_feedback, sa.and_(latest_feedback.c.prediction_id == PREDICTIONS.c.id, latest_feedback.c.rank == 1))
        )
        .where(PREDICTIONS.c.created_at >= window.start, PREDICTIONS.c.created_at < window.end)
    )
    requests_query = sa.select(REQUESTS.c.endpoint, REQUESTS.c.method, REQUESTS.c.status, REQUESTS.c.latency_ms).where(
        REQUESTS.c.at >= window.start, REQUESTS.c.at < window.end
    )
    try:
        migrate(engine)  # a store no API has written to yet is empty, not an error
        with engine.connect() as connection:
            rows = list(connection.execute(predictions_query).all())
            requests = pd.DataFrame(connection.execute(requests_query).all(), columns=["endpoint", "method", "status", "latency_ms"])
    except SQLAlchemyError as error:
        url = engine.url.render_as_string(hide_password=True)
        raise StoreError(
            f"Prediction store {url} cannot be read ({error.__class__.__name__}: {str(error).splitlines()[0]}). "
            "Check CHURNOPS_STORE_URL and that the database is up."
        ) from None
    return WindowData(window, _predictions_frame(rows, contract), requests)


def _predictions_frame(rows: Sequence[Any], contract: DatasetContract) -> pd.DataFrame:
    meta = pd.DataFrame([row[: len(PREDICTION_COLUMNS)] for row in rows], columns=PREDICTION_COLUMNS)
    raw = pd.DataFrame([_as_dict(row.features) for row in rows], columns=contract.feature_columns)
    features = to_model_frame(_decoded(raw, contract), contract)
    churned = pd.Series([row.churned for row in rows], dtype="float64", name="churned")
    return pd.concat([features, meta, churned], axis=1)


def _as_dict(value: object) -> dict[str, object]:
    """PostgreSQL (JSONB) hands back dicts, SQLite JSON text."""
    return value if isinstance(value, dict) else json.loads(str(value))


def _decoded(raw: pd.DataFrame, contract: DatasetContract) -> pd.DataFrame:
    for name in contract.feature_columns:
        spec = contract.columns[name]
        if spec.encoding:
            raw[name] = raw[name].map(spec.decode)
        if spec.is_numeric:
            raw[name] = pd.to_numeric(raw[name], errors="coerce")
    return raw
