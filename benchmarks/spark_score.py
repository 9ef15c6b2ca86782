"""Spark batch scoring beside the single-process `churnops score`, on the same rows, in one run.

Trains one version on the Telco CSV into a temporary registry (as benchmarks/score.py does) and builds a
file of `--rows` customers sampled from the real rows with fresh ids. Both engines validate every row
against the contract and write Parquet; the local engine also stores every prediction (SQLite), so
Spark is measured twice: without a store, and with `store=True` (SQLite through the driver, the same
store). Times are inside the step, after a warm-up run each (the Spark session is started once and its
Python workers are warm: what a long-lived driver sees). Spark's session start is printed apart.

    uv run python benchmarks/spark_score.py [--rows 100000] [--master local[*]]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnops.batch_scoring import score_batch
from churnops.spark.scoring import score_on_spark, spark_session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import DEFAULT_DATA, train_model, write_customers  # noqa: E402 - the sibling benchmark's helpers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="customers in the scored file")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="training CSV, also sampled for the scored file")
    parser.add_argument("--master", default="local[*]", help="Spark master")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="churnops-spark-bench-") as folder_name:
        folder = Path(folder_name)
        data = args.data if Path(args.data).is_file() else None
        settings = train_model(folder, data, 2)
        customers = write_customers(folder / "customers.csv", data, args.rows)
        warm_up = write_customers(folder / "warm-up.csv", data, 1000)

        started = time.perf_counter()
        spark = spark_session(args.master)
        session_seconds = time.perf_counter() - started
        score_batch(settings, str(warm_up))
        score_on_spark(settings, str(warm_up), folder / "warm-spark", master=args.master)

        timings: dict[str, float] = {}
        started = time.perf_counter()
        local = score_batch(settings, str(customers))
        timings["local (validate, score, store, Parquet)"] = time.perf_counter() - started
        started = time.perf_counter()
        ours = score_on_spark(settings, str(customers), folder / "spark", master=args.master)
        timings["spark (validate, score, Parquet)"] = time.perf_counter() - started
        started = time.perf_counter()
        stored = score_on_spark(settings, str(customers), folder / "spark-stored", store=True, master=args.master)
        timings["spark --store (SQLite via the driver)"] = time.perf_counter() - started
        spark.stop()

        ids = pd.read_parquet(local.output).set_index("customerID")["churn_probability"]
        spark_ids = pd.read_parquet(ours.output).set_index("customerID")["churn_probability"]
        difference = float(np.abs(spark_ids - ids.reindex(spark_ids.index).to_numpy()).max())
        if not local.rows == ours.rows == stored.rows == stored.stored == args.rows:
            sys.exit(f"rows: local {local.rows}, spark {ours.rows}, spark --store {stored.rows} (stored {stored.stored}); expected {args.rows}")

        print(f"\n{args.rows} customers; Spark {args.master}, {ours.partitions} partitions; session start {session_seconds:.1f} s (not counted)")
        base = args.rows / timings["local (validate, score, store, Parquet)"]
        for label, seconds in timings.items():
            rate = args.rows / seconds
            print(f"{label:<44}{seconds:>8.2f} s{rate:>12.0f} rows/s{rate / base:>8.2f}x")
        print(f"largest |p_spark - p_local| over every customer: {difference:.2e}")


if __name__ == "__main__":
    main()
