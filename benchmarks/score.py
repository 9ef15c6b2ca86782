"""Batch scoring benchmark: `churnops score` beside the plain script a user would write, on the same rows, in one run.

Trains one version on the Telco CSV (or synthetic data when the file is absent) into a temporary
registry and builds a file of `--rows` customers by sampling the real rows with fresh customer ids.
The baseline is what a notebook does: pandas `read_csv` -> `mlflow.pyfunc.load_model(...).predict`
-> `to_parquet`. churnops also validates every row against the contract, stores every prediction
in the prediction store (SQLite, then PostgreSQL) and logs the batch as an MLflow run.

Two figures each:
* in process (imports done, a small warm-up run first): the step `score_batch` vs the baseline's
  read -> load -> predict -> write, rows/s and the ratio;
* whole command: `python -m churnops score` vs `python baseline.py`, wall time from process start (best of 3);
the store alone: the bulk insert of the same rows, made beforehand, into a fresh store; and the database
alone: those stored rows, in the database's own format, inserted into an empty store by the database itself
(INSERT ... SELECT on SQLite, COPY on PostgreSQL), the floor this machine puts under the step.

Targets: >= 100k rows/s inside the step; whole-command ratio >= 1.0 against the baseline.

    uv run python benchmarks/score.py [--rows 100000] [--data PATH] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from churnops.batch_scoring import CHUNK_ROWS, score_batch
from churnops.data.contract import load_contract
from churnops.data.loading import load_customers
from churnops.data.synthetic import generate
from churnops.settings import Settings
from churnops.store import PredictionStore, bulk, new_prediction_ids
from churnops.store.bulk import PredictionColumns, features_json
from churnops.store.schema import PREDICTIONS
from churnops.training.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"
DEFAULT_POSTGRES = os.environ.get("CHURNOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_ROWS_PER_SECOND = 100_000  # inside the step
TARGET_RATIO = 1.0  # whole command, churnops rows/s over the baseline's

# The plain script (one file, as a user would write it); argv: model URI, input CSV, output Parquet.
BASELINE = """
import sys, time
started = time.perf_counter()
import mlflow.pyfunc, pandas as pd
frame = pd.read_csv(sys.argv[2])
model = mlflow.pyfunc.load_model(sys.argv[1])
scored = model.predict(frame.drop(columns=["customerID", "Churn"], errors="ignore"))
pd.concat([frame, pd.DataFrame(scored)], axis=1).to_parquet(sys.argv[3], index=False)
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="customers in the scored file")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="training CSV, also sampled for the scored file (synthetic when missing)")
    parser.add_argument("--trials", type=int, default=2, help="search trials for the benchmarked model")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server for the PostgreSQL store (a scratch database is made)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="churnops-score-bench-") as folder_name:
        folder = Path(folder_name)
        data = args.data if Path(args.data).is_file() else None
        settings = train_model(folder, data, args.trials)
        customers = write_customers(folder / "customers.csv", data, args.rows)
        warm_up = write_customers(folder / "warm-up.csv", data, 1000)
        model_uri = "models:/churn-classifier@champion"
        baseline_script = folder / "baseline.py"
        baseline_script.write_text(BASELINE, encoding="utf-8")
        print(f"{args.rows} customers from {data or 'synthetic data'}; model {model_uri}\n", flush=True)

        results: dict[str, float] = {}
        env = {**os.environ, "MLFLOW_TRACKING_URI": settings.tracking_uri}
        os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
        baseline_in_process(model_uri, warm_up, folder / "warm.parquet")
        results["baseline_step"] = baseline_in_process(model_uri, customers, folder / "baseline.parquet")
        results["baseline_command"] = command([sys.executable, str(baseline_script), model_uri, str(customers), str(folder / "b.parquet")], env)
        backends = stores(folder, args.postgres_url)
        try:
            for backend, url in backends:
                store = settings.model_copy(update={"store": settings.store.model_copy(update={"url": url})})
                score_batch(store, str(warm_up))
                started = time.perf_counter()
                result = score_batch(store, str(customers))
                results[f"{backend}_step"] = time.perf_counter() - started
                check_stored(url, result.rows, args.rows)
                results[f"{backend}_command"] = command(
                    [sys.executable, "-m", "churnops", "score", "--input", str(customers), "--json"],
                    {**env, **churnops_env(settings, url)},
                )
            empty = dict(stores(folder, args.postgres_url, name="database-alone"))
            backends.extend(empty.items())
            for backend, url in stores(folder, args.postgres_url, name="store-alone"):
                backends.append((backend, url))
                results[f"{backend}_store"] = store_alone(url, customers, folder / f"spool-{backend}")
                if backend in empty:
                    results[f"{backend}_database"] = database_alone(url, empty[backend], folder / f"spool-{backend}")
        finally:
            drop_scratch(args.postgres_url, [url for backend, url in backends if backend == "postgresql"])
        report(results, args.rows)


def train_model(folder: Path, data: str | None, trials: int) -> Settings:
    settings = Settings(
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifact_location=str(folder / "mlartifacts"),
        dataset="telco",
        data=data,
        search_trials=trials,
        gate_min_roc_auc=0.0,
        store_url=f"sqlite:///{folder / 'predictions.db'}",
        spool_dir=folder / "spool",
        batch_output_dir=folder / "scored",
    )
    print(f"training on {data or 'synthetic data'} ({trials} trials) ...", flush=True)
    result = run_pipeline(settings)
    print(f"version {result.version}: {result.family}, test ROC AUC {result.test_metrics['roc_auc']:.4f}", flush=True)
    return settings


def write_customers(path: Path, data: str | None, rows: int) -> Path:
    """`rows` customers sampled from the real file (raw encodings, blanks kept), each with a fresh id."""
    source = pd.read_csv(data, dtype=str, keep_default_na=False) if data else generate(7043, seed=3).astype(str)
    sample = source.sample(rows, replace=True, random_state=7).reset_index(drop=True)
    sample["customerID"] = [f"BENCH-{index:08d}" for index in range(rows)]
    sample.to_csv(path, index=False)
    return path


def baseline_in_process(model_uri: str, customers: Path, output: Path) -> float:
    import mlflow.pyfunc  # noqa: PLC0415 - imported before the clock starts by the warm-up call

    started = time.perf_counter()
    frame = pd.read_csv(customers)
    model = mlflow.pyfunc.load_model(model_uri)
    scored = model.predict(frame.drop(columns=["customerID", "Churn"], errors="ignore"))
    pd.concat([frame, pd.DataFrame(scored)], axis=1).to_parquet(output, index=False)
    return time.perf_counter() - started


def stores(folder: Path, postgres_url: str, name: str = "predictions") -> list[tuple[str, str]]:
    found = [("sqlite", f"sqlite:///{folder / f'{name}.db'}")]
    name = f"churnops_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        found.append(("postgresql", postgres_url.rsplit("/", 1)[0] + "/" + name))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL at {postgres_url} not reachable ({exc.orig}); SQLite only", flush=True)
    finally:
        admin.dispose()
    return found


def drop_scratch(postgres_url: str, urls: list[str]) -> None:
    """The scratch database goes when the benchmark ends, whatever happened."""
    if not urls:
        return
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for url in urls:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')
    finally:
        admin.dispose()


def store_alone(url: str, customers: Path, spool: Path) -> float:
    """Seconds the prediction store takes for the bulk insert alone of the same rows, made beforehand: the floor
    the database puts under the step (one transaction, chunks of the step's size, on a fresh store)."""
    features = load_customers(customers, load_contract("telco")).features
    probabilities, threshold = np.linspace(0.0, 1.0, len(features)), 0.5
    ids, created_at = new_prediction_ids(len(features)), datetime.now(UTC)
    batches = [
        PredictionColumns(
            ids=ids[start : start + CHUNK_ROWS],
            features=features_json(features.iloc[start : start + CHUNK_ROWS]),
            probabilities=probabilities[start : start + CHUNK_ROWS],
            labels=probabilities[start : start + CHUNK_ROWS] >= threshold,
            latency_ms=1.0,
            created_at=created_at,
            model_name="churn-classifier",
            model_version="1",
            threshold=threshold,
            endpoint="batch-scoring",
            request_id=None,
        )
        for start in range(0, len(features), CHUNK_ROWS)
    ]
    store = PredictionStore(url, spool)
    store.start()
    try:
        started = time.perf_counter()
        store.store_column_batches(batches)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    check_stored(url, len(features), len(features), warm_up=0)
    return seconds


def database_alone(stored: str, empty: str, spool: Path) -> float:
    """Seconds the database itself takes to insert the rows the store-alone run stored, already in its own format,
    into an empty store: no Python per row at all (SQLite: INSERT ... SELECT from the other file; PostgreSQL: COPY
    of the rows exported beforehand). The hardware's floor: no client code makes the step faster than this."""
    store = PredictionStore(empty, spool)
    store.start()  # the schema, with its indexes
    store.close()
    engine = sa.create_engine(empty)
    try:
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql(f"ATTACH DATABASE '{sa.make_url(stored).database}' AS stored")
                started = time.perf_counter()
                connection.exec_driver_sql("INSERT INTO predictions SELECT * FROM stored.predictions")
                connection.commit()
        else:
            rows = _copy_out(stored)
            started = time.perf_counter()
            with engine.begin() as connection:
                bulk._copy(connection, PREDICTIONS.name, rows)  # the store's own COPY, without building the text
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    rows = _stored(stored)
    check_stored(empty, rows, rows, warm_up=0)
    return seconds


def _copy_out(url: str) -> bytes:
    """The stored predictions in COPY's text format, the columns `bulk._copy` reads (psycopg 3 or psycopg2)."""
    export = f"COPY {PREDICTIONS.name} ({', '.join(bulk.COLUMNS)}) TO STDOUT"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            cursor = connection.connection.driver_connection.cursor()
            if hasattr(cursor, "copy"):
                with cursor.copy(export) as pipe:
                    return b"".join(bytes(part) for part in pipe)
            buffer = io.BytesIO()
            cursor.copy_expert(export, buffer)
            return buffer.getvalue()
    finally:
        engine.dispose()


def _stored(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar_one())
    finally:
        engine.dispose()


def churnops_env(settings: Settings, url: str) -> dict[str, str]:
    return {
        "CHURNOPS_TRACKING_URI": settings.tracking_uri,
        "CHURNOPS_DATASET": "telco",
        "CHURNOPS_STORE_URL": url,
        "CHURNOPS_SPOOL_DIR": str(settings.store.spool_dir),
        "CHURNOPS_BATCH_OUTPUT_DIR": str(settings.batch.output_dir),
        "CHURNOPS_LOG_LEVEL": "WARNING",
    }


def command(argv: list[str], env: dict[str, str], repeat: int = 3) -> float:
    """The fastest of `repeat` runs: the machine is shared, and a process start varies by seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)  # noqa: S603 - our own interpreter and scripts
        times.append(time.perf_counter() - started)
    return min(times)


def check_stored(url: str, rows: int, expected: int, warm_up: int = 1000) -> None:
    """Every prediction of the measured run is in the store (the warm-up's come first)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.execute(sa.text("SELECT COUNT(DISTINCT id) FROM predictions")).scalar_one()
    finally:
        engine.dispose()
    if rows != expected or count != expected + warm_up:
        sys.exit(f"{url}: {count} predictions stored, expected {expected + warm_up} (warm-up included)")


def report(results: dict[str, float], rows: int) -> None:
    rate: Callable[[str], float] = lambda key: rows / results[key]  # noqa: E731
    print(f"{'':52}{'churnops':>12}{'baseline':>12}{'ratio':>8}")
    backends = [key.removesuffix("_step") for key in results if key.endswith("_step") and not key.startswith("baseline")]
    for backend in backends:
        for kind, label in (("step", "in process (read -> stored), rows/s"), ("command", "whole command, rows/s")):
            ours, theirs = rate(f"{backend}_{kind}"), rate(f"baseline_{kind}")
            print(f"{f'{backend}: {label}':<52}{ours:>12.0f}{theirs:>12.0f}{ours / theirs:>7.2f}x")
    for backend in backends:
        if f"{backend}_store" in results:
            print(f"{f'{backend}: the store alone (bulk insert), rows/s':<52}{rate(f'{backend}_store'):>12.0f}")
        if f"{backend}_database" in results:
            print(f"{f'{backend}: the database alone (its own rows), rows/s':<52}{rate(f'{backend}_database'):>12.0f}")
    for backend in backends:
        step, ratio = rate(f"{backend}_step"), rate(f"{backend}_command") / rate("baseline_command")
        met = "met" if step >= TARGET_ROWS_PER_SECOND else "NOT met"
        print(f"{backend}: target >= {TARGET_ROWS_PER_SECOND} rows/s inside the step: {step:.0f} -> {met}")
        met = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(f"{backend}: target whole-command ratio >= {TARGET_RATIO:g}: {ratio:.2f} -> {met}")


if __name__ == "__main__":
    main()
