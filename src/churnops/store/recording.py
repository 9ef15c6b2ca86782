"""Score customers and record every prediction: the one path the API and batch scoring share.

The model is anything that scores records and names itself (a `churnops.model.served.ServedModel`);
the store never imports the model package, so this takes it by shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from churnops.store.bulk import PredictionColumns, features_json
from churnops.store.records import new_prediction_ids
from churnops.store.rows import Rows
from churnops.store.writer import PredictionStore


class ScoringModel(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def threshold(self) -> float: ...

    def score(self, records: list[dict[str, Any]]) -> np.ndarray: ...

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class Recorded:
    ids: list[str]
    probabilities: np.ndarray  # float64, one per customer
    churn: np.ndarray  # bool: probability >= the model's threshold
    created_at: datetime
    ticket: int  # what `PredictionStore.durable` waits for (0: nothing to wait for)


def score_and_record(
    model: ScoringModel,
    customers: list[dict[str, Any]],
    store: PredictionStore,
    endpoint: str,
    request_id: str | None | list[str | None],
    chunk_rows: int | None = None,
    on_rows: Callable[[int, int], None] | None = None,
    validated: bool = False,
) -> Recorded:
    """Score `customers` with `model` (in chunks of `chunk_rows`, reporting `on_rows(done, total)`) and queue every prediction.

    Each prediction's `latency_ms` is the time of the model call that scored it (the request, or the chunk).
    `request_id`: the request's, or one per customer (single customers scored as a group).
    `validated`: the customers passed the API's customer model, so their values are JSON-safe as they are.
    """
    total = len(customers)
    size = chunk_rows or max(total, 1)
    ids = new_prediction_ids(total)
    probabilities = np.empty(total, dtype=np.float64)
    created_at = datetime.now(UTC)
    ticket = 0
    for start in range(0, total, size):
        chunk = customers[start : start + size]
        started = time.perf_counter()
        scores = model.score(chunk)
        latency_ms = (time.perf_counter() - started) * 1000
        probabilities[start : start + len(chunk)] = scores
        ticket = store.record_prediction_rows(
            Rows.of_predictions(
                ids[start : start + len(chunk)],
                created_at,
                chunk,
                scores.tolist(),
                (scores >= model.threshold).tolist(),
                model_name=model.name,
                model_version=model.version,
                threshold=model.threshold,
                latency_ms=latency_ms,
                endpoint=endpoint,
                request_id=request_id if request_id is None or isinstance(request_id, str) else request_id[start : start + len(chunk)],
                plain_features=validated,
            )
        )
        if on_rows is not None:
            on_rows(start + len(chunk), total)
    return Recorded(ids, probabilities, probabilities >= model.threshold, created_at, ticket)


def score_and_store_frame(
    model: ScoringModel,
    frame: pd.DataFrame,
    store_columns: Callable[[PredictionColumns], None],
    endpoint: str,
    request_id: str | None,
    chunk_rows: int,
    on_rows: Callable[[int, int], None] | None = None,
) -> Recorded:
    """Batch scoring's path: a validated model frame scored chunk by chunk, each chunk handed to `store_columns`
    (`PredictionStore.storing_columns`: a thread that stores while the next chunk is scored, one transaction).

    Stores what `score_and_record` stores for the same customers (features, probability, label, ...), but as
    columns through the store's bulk write: no Python object per prediction.
    """
    total = len(frame)
    ids = new_prediction_ids(total)
    probabilities = np.empty(total, dtype=np.float64)
    created_at = datetime.now(UTC)
    threshold = float(model.threshold)
    for start in range(0, total, chunk_rows):
        stop = min(start + chunk_rows, total)
        chunk = frame.iloc[start:stop]
        started = time.perf_counter()
        scores = np.asarray(model.score_frame(chunk), dtype=np.float64)
        latency_ms = (time.perf_counter() - started) * 1000
        probabilities[start:stop] = scores
        store_columns(
            PredictionColumns(
                ids=ids[start:stop],
                features=features_json(chunk),
                probabilities=scores,
                labels=scores >= threshold,
                latency_ms=latency_ms,
                created_at=created_at,
                model_name=model.name,
                model_version=model.version,
                threshold=threshold,
                endpoint=endpoint,
                request_id=request_id,
            )
        )
        if on_rows is not None:
            on_rows(stop, total)
    return Recorded(ids, probabilities, probabilities >= threshold, created_at, 0)  # stored by the caller's block: nothing to wait for
