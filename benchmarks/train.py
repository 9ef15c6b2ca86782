"""Training benchmark on the real Telco CSV: the pipeline beside a plain logistic-regression baseline.

Prints, in one run on this machine: test ROC AUC and wall time of the default pipeline vs a plain
sklearn LogisticRegression on the same split, and the selected model's 5-fold CV ROC AUC on the full
data beside the plain baselines (logistic regression, untuned HistGradientBoosting) on the same folds,
and the search's curve: best CV ROC AUC so far against trials completed and wall time.

    uv run python benchmarks/train.py [--data PATH] [--trials N]
    # a bigger budget over 2 worker processes sharing a study in PostgreSQL:
    uv run python benchmarks/train.py --trials 200 --workers 2 [--families logistic_regression,lightgbm] [--timeout 1500]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import mlflow
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnops.data.contract import DatasetContract
from churnops.settings import Settings
from churnops.training.families import build_pipeline
from churnops.training.pipeline import prepare, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"
sys.path.insert(0, str(ROOT))

from tests.support.databases import scratch_database  # noqa: E402  (shared with the tests)
from tests.support.servers import mlflow_server  # noqa: E402


def plain_preprocessor(contract: DatasetContract) -> ColumnTransformer:
    """What a plain notebook does: impute + scale numbers, one-hot categories, nothing engineered."""
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), contract.numeric_columns),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), contract.categorical_columns),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--trials", type=int, default=None, help="search budget (default: the settings default)")
    parser.add_argument("--workers", type=int, default=1, help="local search worker processes (more than 1 needs --storage)")
    parser.add_argument("--storage", default=None, help="Optuna study storage URL (default with --workers: a scratch PostgreSQL database)")
    parser.add_argument("--families", default=None, help="comma-separated model families (default: the settings default)")
    parser.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds of search")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        os.chdir(folder)
        overrides: dict[str, object] = {"data": args.data, "dataset": "telco", "search_workers": args.workers}
        if args.trials:
            overrides["search_trials"] = args.trials
        if args.families:
            overrides["families"] = args.families.split(",")
        if args.timeout:
            overrides["search_timeout_seconds"] = args.timeout
        if args.workers > 1:
            # Workers in other processes: a real MLflow server (PostgreSQL behind it) and a study database they share.
            tracking_db = stack.enter_context(scratch_database())
            overrides["tracking_uri"] = stack.enter_context(mlflow_server(tracking_db, Path(folder) / "served-artifacts"))
            overrides["search_storage"] = args.storage or stack.enter_context(scratch_database())
        settings = Settings(**overrides)  # type: ignore[arg-type]
        started = time.perf_counter()
        result = run_pipeline(settings)
        pipeline_seconds = time.perf_counter() - started
        trials = mlflow.artifacts.load_dict(f"runs:/{result.training_run_id}/search/trials.json")["trials"]

        prepared = prepare(settings)
        split, contract = prepared.split, prepared.contract
        started = time.perf_counter()
        baseline = Pipeline([("features", plain_preprocessor(contract)), ("model", LogisticRegression(max_iter=5000))])
        baseline.fit(split.train.features, split.train.target)
        baseline_auc = roc_auc_score(split.test.target, baseline.predict_proba(split.test.features)[:, 1])
        baseline_seconds = time.perf_counter() - started

        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=settings.seed)
        data = prepared.dataset

        def cv(model: Pipeline) -> float:
            return float(np.mean(cross_val_score(model, data.features, data.target, cv=folds, scoring="roc_auc", n_jobs=2)))

        selected_cv = cv(build_pipeline(contract, result.family, result.params, settings.seed))
        lr_cv = cv(Pipeline([("features", plain_preprocessor(contract)), ("model", LogisticRegression(max_iter=5000))]))
        hgb_cv = cv(Pipeline([("features", plain_preprocessor(contract)), ("model", HistGradientBoostingClassifier(random_state=settings.seed))]))

    print(f"data: {args.data} ({data.n_rows} rows), split {result.split_sizes}, search trials {settings.search.trials}")
    print(f"selected: {result.family} {result.params}")
    print(f"{'':38}{'pipeline':>12}{'baseline':>12}{'ratio':>10}")
    pipeline_auc = result.test_metrics["roc_auc"]
    print(f"{'test ROC AUC (pipeline vs plain LR)':38}{pipeline_auc:12.4f}{baseline_auc:12.4f}{pipeline_auc / baseline_auc:10.3f}")
    print(f"{'wall time, s (pipeline vs plain LR)':38}{pipeline_seconds:12.1f}{baseline_seconds:12.2f}{pipeline_seconds / baseline_seconds:10.0f}")
    print(f"{'5-fold CV ROC AUC, full data (vs LR)':38}{selected_cv:12.4f}{lr_cv:12.4f}{selected_cv / lr_cv:10.4f}")
    print(f"{'5-fold CV ROC AUC, full data (vs HGB)':38}{selected_cv:12.4f}{hgb_cv:12.4f}{selected_cv / hgb_cv:10.4f}")
    print(f"search CV ROC AUC on the training part: {result.cv_roc_auc_mean:.4f} ± {result.cv_roc_auc_std:.4f}")
    print(f"threshold {result.threshold:.4f}; fast path max |dp| {result.parity_difference:.2e}; promoted: {result.promoted}")
    print_curve(trials, args.workers)


def print_curve(trials: list[dict[str, object]], workers: int) -> None:
    """Best CV ROC AUC so far after n completed trials, and the wall time (from the first trial's start) it took."""
    done = sorted(trials, key=lambda trial: str(trial["completed_at"]))
    ends = [datetime.fromisoformat(str(trial["completed_at"])) for trial in done]
    start = min(end.timestamp() - float(trial["seconds"]) for end, trial in zip(ends, done, strict=True))  # type: ignore[arg-type]
    families: dict[str, int] = {}
    for trial in done:
        families[str(trial["family"])] = families.get(str(trial["family"]), 0) + 1
    print(f"search curve ({len(done)} trials, {workers} worker(s); trials per family {json.dumps(families)}):")
    print(f"{'trials':>8}{'wall s':>10}{'best CV AUC':>14}  best family")
    best, best_family = 0.0, ""
    marks = {1, 5, 10, 25, 50, 100, 150, 200, 300, 400, len(done)}
    for count, (end, trial) in enumerate(zip(ends, done, strict=True), start=1):
        if float(trial["cv_roc_auc_mean"]) > best:  # type: ignore[arg-type]
            best, best_family = float(trial["cv_roc_auc_mean"]), str(trial["family"])  # type: ignore[arg-type]
        if count in marks:
            print(f"{count:>8}{end.timestamp() - start:>10.0f}{best:>14.4f}  {best_family}")


if __name__ == "__main__":
    main()
