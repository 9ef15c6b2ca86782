"""What the prediction store keeps: predictions, feedback and answered requests, as plain records.

Callers build records; the writer (`writer.py`) turns them into rows (`rows.py`) off the request path.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


def _new_key() -> str:
    return uuid.uuid4().hex


def new_prediction_ids(count: int) -> list[str]:
    """Time-ordered ids, 32 hex digits laid out like UUIDv7 (without its version bits): the milliseconds since the
    epoch, then 80 random bits.

    A batch's ids are sorted: the store appends them to its primary-key index rather than scattering them
    over it (SQLite bulk inserts take about a fifth less time). One urandom call for the whole batch.
    """
    prefix = f"{time.time_ns() // 1_000_000:012x}"
    random = np.sort(np.frombuffer(os.urandom(10 * count), dtype="S10")).tobytes().hex()  # sorted as bytes: the order of their hex
    return [prefix + random[start : start + 20] for start in range(0, 20 * count, 20)]


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
