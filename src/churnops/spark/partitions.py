"""What runs in Spark's Python workers: one partition of customers validated, scored by the ONNX model, as rows out.

Light on purpose (no MLflow, no Spark imports): a worker process imports this once and keeps the model it
loaded for every later task (`_MODELS`). The rows are validated with the same contract code the local
engine uses (`data.loading.validate_customer_rows`), so a bad row is told the same way; a `DataError` is
raised through Spark with a marker (`raise_marked`) so the driver can show its message instead of the
Java stack trace around it (`marked_message`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnops.data.contract import DatasetContract
from churnops.data.loading import parse_csv_lines, text_cells, validate_customer_rows
from churnops.errors import DataError
from churnops.model.onnx import OnnxChurnModel

ROW_BITS = 33  # monotonically_increasing_id(): partition index << 33 | position in the partition
POSITION_MASK = (1 << ROW_BITS) - 1
MID = "_churnops_mid"  # the column carrying that id into the workers
FEATURES_JSON = "_churnops_features"  # the store's JSON text of a row's features (only when predictions are stored)
LATENCY_MS = "_churnops_latency_ms"
_MARK = "churnops-data-error:"
_MARKED = re.compile(re.escape(_MARK) + r"([A-Za-z0-9+/=]+)")


@dataclass(frozen=True)
class PartitionJob:
    """Everything a worker needs, shipped with the function (the model bytes go as a Spark broadcast)."""

    source: str  # the input as error messages name it
    kind: str  # "csv" (rows are lines of text) or "parquet" (typed columns)
    header: str  # csv: the header line
    offsets: dict[int, int]  # partition index -> lines (csv) or rows (parquet) in the partitions before it
    contract: DatasetContract  # the one the served model checks requests with
    model: Any  # pyspark Broadcast of the model.onnx bytes
    model_digest: str
    run_id: str
    model_name: str
    model_version: str
    threshold: float
    scored_at: pd.Timestamp  # one time for the whole batch, as the local engine stores
    with_store: bool


_MODELS: dict[str, OnnxChurnModel] = {}


def _model(job: PartitionJob) -> OnnxChurnModel:
    """The ONNX session, loaded once per worker process."""
    if job.model_digest not in _MODELS:
        path = Path(tempfile.mkdtemp(prefix="churnops-spark-")) / "model.onnx"
        path.write_bytes(job.model.value)
        _MODELS[job.model_digest] = OnnxChurnModel(path, job.contract)
    return _MODELS[job.model_digest]


def score_partition(job: PartitionJob, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """mapInPandas: Arrow batches of one partition in, scored rows out (`output_columns` order)."""
    try:
        contract, model = job.contract, _model(job)
        for batch in batches:
            customers = _customers(job, contract, batch)
            if customers is not None:
                yield _scored(job, contract, model, *customers)
    except DataError as error:
        raise_marked(error)


def _customers(job: PartitionJob, contract: DatasetContract, batch: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None, np.ndarray] | None:
    """Validated model frame, ids and the rows' numbers (file line, or row position) of one batch; None if it has no rows."""
    mid = batch[MID].to_numpy(dtype=np.int64)
    partition = mid >> ROW_BITS
    numbers = np.fromiter((job.offsets.get(int(index), 0) for index in partition), dtype=np.int64, count=len(mid)) + (mid & POSITION_MASK)
    unit = "row"
    if job.kind == "csv":
        numbers = numbers + 1  # lines count from 1, and line 1 is the header
        keep = numbers > 1
        rows = parse_csv_lines(job.header, batch["value"][keep].tolist(), numbers[keep].tolist(), job.source)
        unit = "line"
    else:
        rows = text_cells(batch.drop(columns=[MID]).set_axis(pd.Index(numbers)))
    if rows.empty:
        return None
    validated = validate_customer_rows(rows, contract, job.source, unit=unit)
    return validated.features, validated.ids, rows.index.to_numpy(dtype=np.int64)


def _scored(
    job: PartitionJob, contract: DatasetContract, model: OnnxChurnModel, features: pd.DataFrame, ids: Any, numbers: np.ndarray
) -> pd.DataFrame:
    started = time.perf_counter()
    probabilities = np.asarray(model.predict_proba(features), dtype=np.float64)
    latency_ms = (time.perf_counter() - started) * 1000
    churn = probabilities >= job.threshold
    target = contract.target
    columns: dict[str, Any] = {}
    if contract.id_column:
        columns[contract.id_column] = ids.to_numpy(dtype=object)
    columns.update(
        {
            "prediction_id": prediction_ids(job.run_id, numbers),
            "churn_probability": probabilities,
            "churn": churn,
            "label": np.where(churn, str(target.positive), str(target.negative)),
            "threshold": job.threshold,
            "model_name": job.model_name,
            "model_version": job.model_version,
            "scored_at": job.scored_at,
        }
    )
    frame = pd.DataFrame(columns, index=features.index)
    frame = frame.join(features)
    if job.with_store:
        from churnops.store.bulk import features_json  # noqa: PLC0415 - the store package (SQLAlchemy, Alembic) only when storing

        frame[FEATURES_JSON] = features_json(features)
        frame[LATENCY_MS] = latency_ms
    return frame.reset_index(drop=True)


def prediction_ids(run_id: str, numbers: np.ndarray) -> list[str]:
    """32 hex characters per customer, from the run and the row's line: unique in the run, across runs, and the same when
    Spark computes a partition again (a retried task, the Parquet file and the store reading one result)."""
    return [hashlib.sha256(f"{run_id}:{number}".encode()).hexdigest()[:32] for number in numbers.tolist()]


def raise_marked(error: DataError) -> None:
    """Raise `error`'s message in a form the driver finds inside Spark's exception text."""
    encoded = base64.b64encode(str(error).encode("utf-8")).decode("ascii")
    raise DataError(f"{_MARK}{encoded}") from None


def marked_message(text: str) -> str | None:
    """The DataError message a worker raised with `raise_marked`, found in Spark's error text; None when there is none."""
    found = _MARKED.search(text)
    return base64.b64decode(found.group(1)).decode("utf-8") if found else None
