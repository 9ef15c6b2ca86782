"""Monitoring benchmark: one `churnops monitor` run over 50,000 stored predictions, in one run with its baseline.

Trains one version on the Telco CSV into a temporary registry, writes 50,000 predictions (20%
with feedback, half of them drifted) and 50,000 request-log rows into a SQLite prediction store,
then times:

* `churnops monitor --window 1d` as a process (imports, store read, Evidently drift with the HTML
  report, quality, performance, service, MLflow logging): the target is under 60 s;
* the baseline: Evidently's default `DataDriftPreset` report (with HTML) on the same two frames,
  what a notebook would run; the ratio says what the rest of a monitoring run costs on top.

    uv run python benchmarks/monitor.py [--data PATH] [--rows 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import Dataset as TrainingData
from churnops.data.loading import load_dataset
from churnops.model.churn_model import load_logged_pipeline
from churnops.model.reference import PROBABILITY, load_reference
from churnops.monitoring.window import Window, read_window
from churnops.settings import Settings
from churnops.store import FeedbackRecord, PredictionStore, RequestRecord, create_store_engine
from churnops.tracking import connect
from churnops.training.pipeline import PipelineResult, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.traffic import customers, store_predictions  # noqa: E402  (realistic traffic; shared with the tests)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"
TARGET_SECONDS = 60.0
FEEDBACK_SHARE = 0.2  # of the stored predictions that get feedback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    folder = Path(tempfile.mkdtemp(prefix="churnops-monitor-bench-"))
    settings = Settings(
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifact_location=str(folder / "mlartifacts"),
        dataset=ROOT / "src" / "churnops" / "data" / "contracts" / "telco.yaml",
        data=str(args.data) if args.data.is_file() else None,
        families=["logistic_regression"],
        search_trials=2,
        cv_folds=3,
        store_url=f"sqlite:///{folder / 'predictions.db'}",
        spool_dir=folder / "spool",
        monitor_report_dir=folder / "reports",
    )
    print(f"training one version on {settings.data or 'synthetic data'} ...", flush=True)
    result = run_pipeline(settings)
    contract = load_contract(settings.dataset)
    if not args.data.is_file():
        sys.exit(f"{args.data} is needed for realistic traffic")
    dataset = load_dataset(args.data, contract)
    fill_store(settings, contract, dataset, result, args.rows)

    print("timing churnops monitor --window 1d ...", flush=True)
    monitor_seconds, summary = time_monitor(settings, folder)
    print("timing the baseline: Evidently DataDriftPreset on the same frames ...", flush=True)
    preset_seconds = time_preset(settings, contract, folder)
    report(summary, monitor_seconds, preset_seconds, folder)


def fill_store(settings: Settings, contract: DatasetContract, dataset: TrainingData, result: PipelineResult, rows: int) -> None:
    """`rows` champion-scored predictions over 10 hours (the second half drifted, a share with feedback) and `rows` request-log rows."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    model = load_logged_pipeline(f"models:/{settings.model_name}/{result.version}")
    print(f"writing {rows:,} predictions and {rows:,} request rows ...", flush=True)
    store = PredictionStore(settings.store.url, settings.store.spool_dir, batch_size=5000)
    store.start()
    start = datetime.now(UTC) - timedelta(hours=12)
    half = rows // 2
    for part, drifted in ((0, False), (1, True)):
        frame, truth = customers(dataset, half, seed=part, drifted=drifted)
        labelled = truth.where(np.random.default_rng(part).random(half) < FEEDBACK_SHARE)
        ids = store_predictions(
            store,
            contract,
            frame,
            model.predict_proba(frame)[:, 1],
            result.threshold,
            result.version,
            start + timedelta(hours=5 * part),
            timedelta(hours=5),
        )
        for row in np.flatnonzero(labelled.notna().to_numpy()):
            store.record_feedback(FeedbackRecord(ids[row], bool(labelled.iloc[row]), start + timedelta(hours=11), None))
    latencies = np.random.default_rng(9).gamma(2.0, 2.0, rows)
    store.record_requests(
        [
            RequestRecord(f"{index:032d}", start + timedelta(seconds=index * 0.8), "/predict", "POST", 200, float(latencies[index]), None)
            for index in range(rows)
        ]
    )
    store.close()


def time_monitor(settings: Settings, folder: Path) -> tuple[float, dict[str, Any]]:
    """`churnops monitor --window 1d --json` as a process: its wall time and its summary."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHURNOPS_")}, **settings.as_environment()}
    began = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "churnops", "monitor", "--window", "1d", "--json"], env=env, cwd=folder, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - began
    if run.returncode != 0:
        sys.exit(f"churnops monitor failed:\n{run.stderr[-3000:]}")
    return seconds, json.loads(run.stdout)


def time_preset(settings: Settings, contract: DatasetContract, folder: Path) -> float:
    """Evidently's default DataDriftPreset report with HTML on the same reference and window: what a notebook would run."""
    reference = load_reference(settings, connect(settings)).frame
    current = read_window(create_store_engine(settings.store.url), Window.ending("1d"), contract).predictions.rename(
        columns={"probability": PROBABILITY}
    )
    columns = [*contract.feature_columns, PROBABILITY]
    definition = DataDefinition(numerical_columns=[*contract.numeric_columns, PROBABILITY], categorical_columns=contract.categorical_columns)
    began = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    snapshot.save_html(str(folder / "preset.html"))
    return time.perf_counter() - began


def report(summary: dict[str, Any], monitor_seconds: float, preset_seconds: float, folder: Path) -> None:
    alerts = ", ".join(alert["rule"] for alert in summary["alerts"]) or "none"
    verdict = "MET" if monitor_seconds < TARGET_SECONDS else "MISSED"
    print()
    print(f"predictions in the window      {summary['quality']['rows']:>10,}   (with feedback: {summary['performance']['labelled']:,})")
    print(f"drifted features               {len(summary['drift']['drifted_features']):>10}   alerts: {alerts}")
    print(f"churnops monitor (process)     {monitor_seconds:>9.1f}s   (inside the run: {summary['seconds']:.1f}s)")
    print(f"target                         {TARGET_SECONDS:>9.1f}s   ratio {monitor_seconds / TARGET_SECONDS:.2f} of the budget -> {verdict}")
    print(f"baseline: DataDriftPreset+HTML {preset_seconds:>9.1f}s   churnops run / baseline = {monitor_seconds / preset_seconds:.1f}x")
    print(f"(files in {folder})")


if __name__ == "__main__":
    main()
