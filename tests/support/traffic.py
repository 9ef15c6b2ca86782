"""Production-like traffic for monitoring tests and the monitoring benchmark, and valid customers for the API tests.

Customers are drawn from a validated data set. `drifted` shifts them the way a new, aggressive
acquisition campaign would: most are new month-to-month fibre customers paying by electronic
check with paperless billing, at 40% higher charges.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnops.data.contract import DatasetContract
from churnops.data.loading import Dataset, load_dataset, to_model_frame
from churnops.store import FeedbackRecord, PredictionRecord, PredictionStore, new_prediction_ids


def customers(dataset: Dataset, count: int, seed: int, drifted: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    """`count` customers (model-ready frame) with their true outcome (0/1), sampled with replacement."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, dataset.n_rows, count)
    frame = dataset.features.iloc[rows].reset_index(drop=True)
    truth = dataset.target.iloc[rows].reset_index(drop=True)
    if drifted:
        frame = drift(frame, rng)
    return frame, truth


def drift(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frame = frame.copy()
    moved = rng.random(len(frame)) < 0.8
    frame.loc[moved, "Contract"] = "Month-to-month"
    frame.loc[moved, "PaymentMethod"] = "Electronic check"
    frame.loc[moved, "PaperlessBilling"] = "Yes"
    fibre = moved & (frame["InternetService"] != "No").to_numpy()
    frame.loc[fibre, "InternetService"] = "Fiber optic"
    frame["MonthlyCharges"] = (frame["MonthlyCharges"] * 1.4).clip(upper=118.0).round(2)
    frame["tenure"] = (frame["tenure"] // 3).astype("int64")
    frame["TotalCharges"] = (frame["MonthlyCharges"] * frame["tenure"].clip(lower=1)).round(2)
    return frame


def valid_customers(csv: Path, contract: DatasetContract, count: int) -> list[dict[str, Any]]:
    """Customers as a client sends them: validated contract values, JSON types."""
    features = load_dataset(csv, contract).features
    frame = to_model_frame(features, contract).dropna().head(count)
    return list(json.loads(frame.to_json(orient="records")))


def as_requests(frame: pd.DataFrame, contract: DatasetContract) -> list[dict[str, Any]]:
    """JSON bodies as a client sends them (missing numbers as null)."""
    return list(json.loads(to_model_frame(frame, contract).to_json(orient="records")))


def store_predictions(  # noqa: PLR0913, PLR0917 - one argument per stored field that the tests and the benchmark vary
    store: PredictionStore,
    contract: DatasetContract,
    frame: pd.DataFrame,
    probabilities: Sequence[float],
    threshold: float,
    version: str,
    start: datetime,
    spread: timedelta,
    truth: pd.Series | None = None,
    model_name: str = "churn-classifier",
) -> list[str]:
    """Write predictions (spread evenly over `spread` from `start`) and, when given, feedback for all of them."""
    ids = new_prediction_ids(len(frame))
    records = as_requests(frame, contract)
    step = spread / max(len(frame), 1)
    store.record_predictions(
        [
            PredictionRecord(
                ids[row],
                start + step * row,
                model_name,
                version,
                records[row],
                float(probabilities[row]),
                bool(probabilities[row] >= threshold),
                threshold,
                0.3,
                "/predict",
                None,
            )
            for row in range(len(frame))
        ]
    )
    if truth is not None:
        for row, churned in enumerate(truth.tolist()):
            store.record_feedback(FeedbackRecord(ids[row], bool(churned), start + step * row, None))
    return ids
