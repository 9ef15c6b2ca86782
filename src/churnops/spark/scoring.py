"""`churnops score --engine spark`: a CSV or Parquet dataset scored by the served model version on Spark.

The driver loads the version as every reader does (`model/served.py`), ships its ONNX bytes to the
executors as a broadcast, and runs `mapInPandas` over the input: each partition is validated with the
contract (`data/loading.py`, the local engine's code: a bad row names its file, line and column) and
scored by an onnxruntime session that each Python worker loads once (`partitions.py`). The result is a
folder of Parquet part files with the local engine's columns. With `store=True` the predictions also go
to the prediction store as rows exactly like the local engine's (endpoint `batch-scoring`, same JSON
features, the run id as request id): over JDBC from the executors to PostgreSQL, or, SQLite having no
JDBC path that several writers can share, through the driver's bulk path (`store/bulk.py`).
Each batch is an MLflow run in `churn-batch-scoring`, tagged engine=spark.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow.dataset as pa_dataset
import sqlalchemy as sa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention
from pyspark.sql import types as T  # noqa: N812

from churnops.batch_scoring import ENDPOINT
from churnops.data import sources
from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import check_customer_columns, header_columns, read_csv_head
from churnops.data.sources import DATA_CACHE, acquire_data
from churnops.errors import ChurnopsError, ConfigError, DataError
from churnops.model.churn_model import artifact_file, download_version
from churnops.model.served import ServedModel, load_served_model, served_version
from churnops.progress import Progress, SilentProgress
from churnops.settings import Settings
from churnops.spark.partitions import FEATURES_JSON, LATENCY_MS, MID, PartitionJob, marked_message, score_partition
from churnops.store import PredictionStore, create_store_engine, migrate
from churnops.store.bulk import PredictionColumns
from churnops.tracking import connect, ensure_experiment

LOG_CONFIG = Path(__file__).with_name("log4j2.properties")
HEAD_BYTES = 65536  # what the driver reads of a CSV to check it and find its header
CHUNK_ROWS = 5000  # rows per bulk write on the driver's store path
OUTPUT_COLUMNS = ("prediction_id", "churn_probability", "churn", "label", "threshold", "model_name", "model_version", "scored_at")


@dataclass(frozen=True)
class SparkScoringResult:
    input: str
    output: str  # a folder of Parquet part files
    rows: int
    predicted_churners: int
    churn_rate: float
    mean_probability: float
    model_name: str
    model_version: str
    inference: str
    threshold: float
    engine: str
    master: str
    partitions: int
    stored: int  # predictions appended to the store (0 without --store)
    store_path: str  # "jdbc" (executors to PostgreSQL), "driver" (SQLite through the bulk path), "" (not stored)
    spooled: int  # driver path only: predictions waiting on disk because the store was unreachable
    run_id: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spark_session(master: str, jars: list[Path] | None = None) -> SparkSession:
    """The session batch scoring runs on (an active one is reused: its master and jars stay as they are).

    Workers run this interpreter (PYSPARK_PYTHON); the console shows warnings only (log4j2.properties beside this file).
    """
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    local = master.startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no warning about a hostname that resolves to loopback
    builder = (
        SparkSession.builder.master(master)
        .appName("churnops-score")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.debug.maxToStringFields", "1000")  # a plan over the contract's columns, without a warning that it was cut
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}")
    )
    if local:
        builder = builder.config("spark.ui.enabled", "false")  # a local run needs no web UI (nor a free port for one)
    present = [str(jar) for jar in jars or [] if jar.is_file()]
    if present:
        builder = builder.config("spark.jars", ",".join(present))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def score_on_spark(
    settings: Settings,
    input_file: str | None = None,
    output: Path | None = None,
    store: bool = False,
    master: str | None = None,
    progress: Progress | None = None,
) -> SparkScoringResult:
    """Score `input_file` (CSV file, Parquet file or folder; default as for the local engine) into the Parquet folder `output`."""
    progress = progress or SilentProgress()
    started = time.perf_counter()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    master = master or settings.batch.spark_master
    progress.step("load model")
    client = connect(settings)
    fixed = load_contract(settings.dataset) if settings.dataset else None
    model = load_served_model(client, settings, fixed, served_version(client, settings))
    onnx_bytes = _onnx_bytes(model)
    contract = model.contract
    input_file = input_file or settings.batch.input or str(acquire_data(settings)[0])
    path = sources.resolve(input_file, DATA_CACHE, None)
    kind, header = _check_input(path, contract)
    output = output or settings.batch.output_dir / f"{path.stem}-scored-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    check_output_folder(output)
    store_url = settings.store.url
    backend = sa.make_url(store_url).get_backend_name() if store else ""
    if backend == "postgresql" and not settings.batch.spark_jdbc_jar.is_file():
        raise ConfigError(
            f"Appending to the PostgreSQL store over JDBC needs the driver jar at {settings.batch.spark_jdbc_jar}: install Debian's "
            "libpostgresql-jdbc-java (make system-deps) or set CHURNOPS_SPARK_JDBC_JAR to a PostgreSQL JDBC jar."
        )

    progress.step("start Spark")
    active = SparkSession.getActiveSession()
    spark = spark_session(master, [settings.batch.spark_jdbc_jar])
    try:
        frame = _read(spark, path, kind).withColumn(MID, F.monotonically_increasing_id())
        offsets, partitions = _offsets(frame)
        ensure_experiment(settings, settings.batch.experiment)
        with mlflow.start_run(run_name=f"batch-{path.stem}") as run:
            run_id = run.info.run_id
            mlflow.set_tags({"churnops.kind": "batch-scoring", "model_version": model.version, "engine": "spark"})
            mlflow.log_params(
                {
                    "input": input_file,
                    "output": str(output),
                    "model_name": model.name,
                    "model_version": model.version,
                    "engine": "spark",
                    "spark_master": master,
                    "store": store,
                }
            )
            job = PartitionJob(
                source=str(path),
                kind=kind,
                header=header,
                offsets=offsets,
                contract=contract,
                model=spark.sparkContext.broadcast(onnx_bytes),
                model_digest=hashlib.sha256(onnx_bytes).hexdigest(),
                run_id=run_id,
                model_name=model.name,
                model_version=model.version,
                threshold=float(model.threshold),
                scored_at=pd.Timestamp(datetime.now(UTC)),
                with_store=store,
            )
            scored = frame.mapInPandas(partial(score_partition, job), output_schema(contract, store))  # type: ignore[arg-type]
            if store:
                scored = scored.persist(StorageLevel.MEMORY_AND_DISK)  # the Parquet folder and the store read one result
            progress.step("score and write Parquet")
            _write_parquet(scored.select(*_columns([*_id(contract), *OUTPUT_COLUMNS, *contract.feature_columns])), output)
            stored, spooled, store_path = _store(settings, scored, job, backend, progress) if store else (0, 0, "")
            totals = _totals(spark, output)
            rows_scored = int(totals["rows"])
            result = SparkScoringResult(
                input=input_file,
                output=str(output),
                rows=rows_scored,
                predicted_churners=int(totals["churners"] or 0),
                churn_rate=float(totals["churners"] or 0) / rows_scored if rows_scored else 0.0,
                mean_probability=float(totals["mean"] or 0.0),
                model_name=model.name,
                model_version=model.version,
                inference=model.inference,
                threshold=model.threshold,
                engine="spark",
                master=master,
                partitions=partitions,
                stored=stored,
                store_path=store_path,
                spooled=spooled,
                run_id=run_id,
                seconds=round(time.perf_counter() - started, 2),
            )
            mlflow.log_metrics(
                {
                    key: float(getattr(result, key))
                    for key in ("rows", "predicted_churners", "churn_rate", "mean_probability", "stored", "spooled", "seconds")
                }
            )
            mlflow.log_dict(result.to_dict(), "summary.json")
    finally:
        if active is None:  # a session this call started; one the caller had stays theirs
            spark.stop()
    return result


def _store(settings: Settings, scored: DataFrame, job: PartitionJob, backend: str, progress: Progress) -> tuple[int, int, str]:
    """(stored, spooled, how): PostgreSQL over JDBC from the executors, SQLite through the driver's bulk path."""
    progress.step("append to the prediction store")
    rows = _store_rows(scored, job)
    try:
        if backend == "postgresql":
            return _append_jdbc(rows, settings.store.url), 0, "jdbc"
        stored, spooled = _store_on_driver(settings, rows, job, progress)
        return stored, spooled, "driver"
    finally:
        scored.unpersist()


def _totals(spark: SparkSession, output: Path) -> Any:
    """Rows, predicted churners and mean probability, read back from the written folder."""
    summary = spark.read.parquet(str(output)).agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("churn").cast("long")).alias("churners"),
        F.avg("churn_probability").alias("mean"),
    )
    return summary.collect()[0]


def check_output_folder(output: Path) -> None:
    """Spark writes a folder of part files: `output` must not exist yet (nothing of a user's is replaced)."""
    if output.is_file():
        raise ConfigError(f"Output '{output}' is a file; Spark writes a folder of Parquet part files. Pass a new folder, e.g. --output scored/")
    if output.exists():
        raise ConfigError(f"Output folder '{output}' exists already. Pass a new folder (--output), or remove it first.")


def output_schema(contract: DatasetContract, with_store: bool) -> T.StructType:
    """The rows `partitions.score_partition` yields: the local engine's Parquet columns, then the store's extra two."""
    fields = [T.StructField(name, T.StringType()) for name in _id(contract)]
    fields += [
        T.StructField("prediction_id", T.StringType()),
        T.StructField("churn_probability", T.DoubleType()),
        T.StructField("churn", T.BooleanType()),
        T.StructField("label", T.StringType()),
        T.StructField("threshold", T.DoubleType()),
        T.StructField("model_name", T.StringType()),
        T.StructField("model_version", T.StringType()),
        T.StructField("scored_at", T.TimestampType()),
    ]
    for name, spec in contract.columns.items():
        if spec.type == "categorical":
            kind: T.DataType = T.StringType()
        elif spec.type == "integer" and not spec.nullable:
            kind = T.LongType()
        else:
            kind = T.DoubleType()
        fields.append(T.StructField(name, kind))
    if with_store:
        fields += [T.StructField(FEATURES_JSON, T.StringType()), T.StructField(LATENCY_MS, T.DoubleType())]
    return T.StructType(fields)


def _id(contract: DatasetContract) -> list[str]:
    return [contract.id_column] if contract.id_column else []


def _columns(names: list[str]) -> list[Column]:
    """Columns by exact name (contract names may hold dots, spaces, backticks)."""
    return [F.col("`" + name.replace("`", "``") + "`") for name in names]


def _onnx_bytes(model: ServedModel) -> bytes:
    if model.inference != "onnx":
        raise ChurnopsError(
            f"Model '{model.name}' version {model.version} ships no ONNX artifact, which the Spark engine scores with. "
            "Score it with the local engine (churnops score), or retrain (churnops pipeline) to get a version with model.onnx."
        )
    with tempfile.TemporaryDirectory(prefix="churnops-spark-model-") as folder:
        return artifact_file(download_version(model.name, model.version, folder), "onnx").read_bytes()


def _check_input(path: Path, contract: DatasetContract) -> tuple[str, str]:
    """("csv", header) or ("parquet", ""): what the file is, after the checks the driver can make from its head or schema."""
    if not path.exists():
        raise DataError(f"Data file '{path}' does not exist. Check the path (a CSV file, or a Parquet file or folder).")
    if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
        if path.is_dir() and not any(path.rglob("*.parquet")):
            raise DataError(f"Data folder '{path}' holds no .parquet files. Pass a CSV file, or a Parquet file or folder.")
        import pyarrow.parquet as pq  # noqa: PLC0415 - only Parquet input needs it

        try:
            names = pa_dataset.dataset(str(path), format="parquet").schema.names if path.is_dir() else pq.read_schema(path).names
        except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
            raise DataError(f"Data file '{path}' is not a Parquet file: {error}") from None
        check_customer_columns([name for name in names if not name.startswith("__")], contract, path)
        return "parquet", ""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    header = read_csv_head(head, path)
    check_customer_columns(header_columns(header, path), contract, path)
    return "csv", header


def _read(spark: SparkSession, path: Path, kind: str) -> DataFrame:
    if kind == "csv":
        return spark.read.text(str(path))  # lines: the workers parse them as the local engine does, and know their numbers
    return spark.read.parquet(str(path))


def _offsets(frame: DataFrame) -> tuple[dict[int, int], int]:
    """Lines (or rows) before each partition, so that the workers number theirs as the file does; and the partition count."""
    counts = {int(row["partition"]): int(row["count"]) for row in frame.groupBy(F.spark_partition_id().alias("partition")).count().collect()}
    offsets, before = {}, 0
    for partition in sorted(counts):
        offsets[partition] = before
        before += counts[partition]
    return offsets, frame.rdd.getNumPartitions()


def _write_parquet(frame: DataFrame, output: Path) -> None:
    """Part files into a folder beside `output`, renamed when complete: a reader never sees half a result."""
    partial_folder = output.with_name(output.name + ".partial")
    shutil.rmtree(partial_folder, ignore_errors=True)
    try:
        frame.write.parquet(str(partial_folder))
    except Exception as error:
        shutil.rmtree(partial_folder, ignore_errors=True)
        raise _spark_error(error) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    partial_folder.replace(output)


def _spark_error(error: Exception) -> Exception:
    """A worker's DataError as itself (the message the local engine gives); anything else as Spark reported it."""
    message = marked_message(str(error))
    if message is not None:
        return DataError(message)
    return error


def _store_rows(scored: DataFrame, job: PartitionJob) -> DataFrame:
    """The store's `predictions` columns, as the local engine fills them (the time as UTC ISO text, cast by PostgreSQL)."""
    return scored.select(
        F.col("prediction_id").alias("id"),
        F.lit(job.scored_at.isoformat()).alias("created_at"),
        F.col("model_name"),
        F.col("model_version"),
        F.col(FEATURES_JSON).alias("features"),
        F.col("churn_probability").alias("probability"),
        F.col("churn").alias("label"),
        F.col("threshold"),
        F.col(LATENCY_MS).alias("latency_ms"),
        F.lit(ENDPOINT).alias("endpoint"),
        F.lit(job.run_id).alias("request_id"),
    )


def jdbc_target(store_url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy PostgreSQL URL as Spark's JDBC URL and connection properties (text sent untyped, so jsonb and timestamptz take it)."""
    url = sa.make_url(store_url)
    properties = {"driver": "org.postgresql.Driver", "stringtype": "unspecified"}
    if url.username:
        properties["user"] = url.username
    if url.password:
        properties["password"] = str(url.password)
    host = url.host or "localhost"
    return f"jdbc:postgresql://{host}:{url.port or 5432}/{url.database or ''}", properties


def _append_jdbc(rows: DataFrame, store_url: str) -> int:
    """Each partition appends its predictions over JDBC in one transaction; the schema is migrated first, as every writer does."""
    engine = create_store_engine(store_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    url, properties = jdbc_target(store_url)
    count = rows.count()
    try:
        rows.write.jdbc(url, "predictions", mode="append", properties=properties)
    except Exception as error:
        found = _spark_error(error)
        if isinstance(found, DataError):
            raise found from None
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ChurnopsError(
            f"Appending the predictions to {sa.make_url(store_url).render_as_string(hide_password=True)} over JDBC failed: {first}"
        ) from None
    return count


def _store_on_driver(settings: Settings, rows: DataFrame, job: PartitionJob, progress: Progress) -> tuple[int, int]:
    """SQLite: the predictions are written out by the executors, then stored by the driver through the bulk path."""
    total = rows.count()
    store = PredictionStore.from_settings(settings.store)
    store.start()
    done = 0
    try:
        with tempfile.TemporaryDirectory(prefix="churnops-spark-store-") as folder:
            rows.select("id", "features", "probability", "label", "latency_ms").write.parquet(f"{folder}/rows")
            for batch in pa_dataset.dataset(f"{folder}/rows", format="parquet").to_batches(batch_size=CHUNK_ROWS):
                frame = batch.to_pandas()
                for latency, group in frame.groupby("latency_ms", sort=False):
                    store.store_columns(_columns_of(group, float(latency), job))  # type: ignore[arg-type]
                done += len(frame)
                progress.rows(done, total)
    finally:
        store.close()
    return done, store.spooled_records


def _columns_of(group: pd.DataFrame, latency_ms: float, job: PartitionJob) -> PredictionColumns:
    """Rows the executors built (features already as the store's JSON text) as one bulk batch."""
    return PredictionColumns(
        ids=group["id"].tolist(),
        features=group["features"].tolist(),
        probabilities=group["probability"].to_numpy(dtype=np.float64),
        labels=group["label"].to_numpy(dtype=bool),
        latency_ms=latency_ms,
        created_at=job.scored_at.to_pydatetime(),
        model_name=job.model_name,
        model_version=job.model_version,
        threshold=job.threshold,
        endpoint=ENDPOINT,
        request_id=job.run_id,
    )
