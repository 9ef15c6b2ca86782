"""Batch scoring: a CSV of customers scored by the served model version, offline.

The same model the API serves (`models:/<name>@<serve_alias>`, ONNX fast path or pyfunc) scores
every customer; each prediction is stored in the prediction store exactly as an API prediction
would be (endpoint `batch-scoring`, so monitoring sees it and feedback can refer to it), and the
whole batch is written to a Parquet file. Each batch is an MLflow run in `churn-batch-scoring`
with its figures and a summary.json.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from churnops.data import sources
from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import Customers, load_customers
from churnops.data.sources import DATA_CACHE, acquire_data
from churnops.errors import ChurnopsError
from churnops.model.served import ServedModel, load_served_model, served_version
from churnops.progress import Progress, SilentProgress
from churnops.settings import Settings
from churnops.store import PredictionStore, Recorded, score_and_store_frame
from churnops.tracking import connect, ensure_experiment

ENDPOINT = "batch-scoring"
CHUNK_ROWS = 5000  # rows scored and handed to the store at a time


@dataclass(frozen=True)
class BatchScoringResult:
    input: str
    output: str
    rows: int
    predicted_churners: int
    churn_rate: float
    mean_probability: float
    model_name: str
    model_version: str
    inference: str
    threshold: float
    spooled: int  # predictions waiting on disk because the store was unreachable (replayed later)
    run_id: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_batch(
    settings: Settings, input_file: str | None = None, output: Path | None = None, progress: Progress | None = None
) -> BatchScoringResult:
    """Score every customer in `input_file` (path or URL), write the Parquet file, store the predictions.

    Without `input_file`: CHURNOPS_BATCH_INPUT, else the configured training data (the current customer base).
    """
    progress = progress or SilentProgress()
    started = time.perf_counter()
    import pyarrow  # noqa: F401, PLC0415 - the Parquet file needs it (the train extra, not the API image): said before anything is scored

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if output is not None and output.suffix != ".parquet":
        raise ChurnopsError(f"Output '{output}' must be a .parquet file (e.g. --output scored.parquet).")
    progress.step("load model")
    client = connect(settings)
    fixed = load_contract(settings.dataset) if settings.dataset else None  # else the served version's own contract
    model = load_served_model(client, settings, fixed, served_version(client, settings))
    contract = model.contract
    progress.step("validate")
    input_file = input_file or settings.batch.input or str(acquire_data(settings)[0])
    path = sources.resolve(input_file, DATA_CACHE, None)
    customers = load_customers(path, contract, source=input_file)
    output = output or settings.batch.output_dir / f"{path.stem}-scored-{datetime.now(UTC):%Y%m%dT%H%M%S}.parquet"

    ensure_experiment(settings, settings.batch.experiment)
    with mlflow.start_run(run_name=f"batch-{path.stem}") as run:
        run_id = run.info.run_id
        mlflow.set_tags({"churnops.kind": "batch-scoring", "model_version": model.version})
        mlflow.log_params({"input": input_file, "output": str(output), "model_name": model.name, "model_version": model.version})
        progress.step("score and store")
        store = PredictionStore.from_settings(settings.store)
        store.start()
        try:
            with store.storing_columns() as store_columns:  # one transaction: the file's predictions are stored whole or not at all
                recorded = score_and_store_frame(
                    model, customers.features, store_columns, ENDPOINT, run_id, chunk_rows=CHUNK_ROWS, on_rows=progress.rows
                )
                progress.step("write Parquet")
                _write_parquet(_scored_table(contract, customers, model, recorded), output)  # while the database commits
        finally:
            store.close()  # writes everything queued; what the database refuses is spooled to disk and replayed later
        probabilities, churn, spooled = recorded.probabilities, recorded.churn, store.spooled_records
        result = BatchScoringResult(
            input=input_file,
            output=str(output),
            rows=len(customers.features),
            predicted_churners=int(churn.sum()),
            churn_rate=float(churn.mean()),
            mean_probability=float(probabilities.mean()),
            model_name=model.name,
            model_version=model.version,
            inference=model.inference,
            threshold=model.threshold,
            spooled=spooled,
            run_id=run_id,
            seconds=round(time.perf_counter() - started, 2),
        )
        mlflow.log_metrics(
            {key: float(getattr(result, key)) for key in ("rows", "predicted_churners", "churn_rate", "mean_probability", "spooled", "seconds")}
        )
        mlflow.log_dict(result.to_dict(), "summary.json")
    return result


def _scored_table(contract: DatasetContract, customers: Customers, model: ServedModel, recorded: Recorded) -> pd.DataFrame:
    """What the Parquet file holds: the customer id, the prediction, the model that made it, and the inputs."""
    churn = recorded.churn
    target = contract.target
    id_columns = {contract.id_column: customers.ids.to_numpy()} if customers.ids is not None and contract.id_column else {}
    outputs = pd.DataFrame(
        {
            **id_columns,
            "prediction_id": recorded.ids,
            "churn_probability": recorded.probabilities,
            "churn": churn,
            "label": np.where(churn, target.positive, target.negative),
            "threshold": model.threshold,
            "model_name": model.name,
            "model_version": model.version,
            "scored_at": recorded.created_at,
        }
    )
    return outputs.join(customers.features.reset_index(drop=True))


def _write_parquet(table: pd.DataFrame, output: Path) -> None:
    """Write beside the target and rename, so a reader never sees half a file."""
    partial = output.with_name(output.name + ".partial")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(partial, index=False)
        partial.replace(output)
    except OSError as error:
        raise ChurnopsError(f"Cannot write the scored batch to '{output}': {error}. Choose another --output or free disk space.") from error
