"""Hyper-parameter search with Optuna on cross-validated ROC AUC; every trial a nested MLflow run.

Without CHURNOPS_SEARCH_STORAGE the study lives in memory and this process runs every trial. With it, the
study lives in that database: `search_workers` local worker processes (churnops.training.search_worker), and
any `churnops search-worker --study NAME` started elsewhere, take trials from its queue (training/study.py),
each logging its trials under this training run; the result is read back from the study.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: plots are files, never windows
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import optuna
from matplotlib.figure import Figure

from churnops.data.contract import DatasetContract
from churnops.data.split import Part
from churnops.errors import ConfigError, SearchError
from churnops.settings import Settings
from churnops.training import search_worker
from churnops.training import study as studies
from churnops.training.study import StudySpec, TrialCallback
from churnops.training.trial import TrialObjective

STUDY_TAG = "churnops.search_study"


@dataclass(frozen=True)
class SearchResult:
    family: str
    params: dict[str, Any]
    cv_roc_auc_mean: float
    cv_roc_auc_std: float
    trials: list[dict[str, Any]]
    study_name: str = ""


def search(
    all_settings: Settings, contract: DatasetContract, contract_file: Path, train: Part, on_trial: TrialCallback | None = None
) -> SearchResult:
    """Run the study for the active MLflow run (the parent of every trial); returns the best family and parameters.

    `contract_file`: the YAML `contract` was read from (workers read it from the training run).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings, seed = all_settings.search, all_settings.seed
    if settings.workers > 1 and settings.storage is None:
        raise ConfigError(
            f"search_workers={settings.workers} needs a shared study: set CHURNOPS_SEARCH_STORAGE to a PostgreSQL URL "
            "(e.g. postgresql://postgres@127.0.0.1:5432/test), or use one worker."
        )
    parent = mlflow.active_run()
    if parent is None:
        raise SearchError("The search runs inside a training run (mlflow.start_run) whose nested runs are its trials.")
    spec = StudySpec(
        families=list(settings.families),
        trials=settings.trials,
        cv_folds=settings.cv_folds,
        seed=seed,
        parent_run_id=parent.info.run_id,
        experiment_id=parent.info.experiment_id,
        timeout_seconds=settings.timeout_seconds,
        started=time.time(),
        heartbeat_seconds=settings.heartbeat_seconds,
        grace_seconds=settings.grace_seconds,
    )
    name = f"churnops-{parent.info.run_id}"
    storage = studies.open_storage(settings.storage, spec)
    study = studies.create_study(storage, name, spec)
    if settings.storage is None:

        def report(study: optuna.Study, value: float) -> None:
            if on_trial is not None:
                on_trial(len(studies.completed(study)), spec.trials, value, float(study.best_value))

        studies.run_queue(study, TrialObjective(contract, train, spec, settings.n_jobs, "in-process"), report)
    else:
        mlflow.set_tag(STUDY_TAG, name)
        search_worker.log_inputs(contract_file, train)
        search_worker.run_local_workers(all_settings, name, study, on_trial)
    return collect(study, spec)


def collect(study: optuna.Study, spec: StudySpec) -> SearchResult:
    """The best completed trial, after checking that no trial was lost; logs the history to the active run.

    A trial that FAILed because its worker died is not lost when it was queued again (its retry is then COMPLETE or WAITING).
    """
    states = studies.counts(study)
    lost = studies.unretried_failures(study)
    unfinished = lost or any(state not in ("COMPLETE", "WAITING", "FAIL") for state in states)
    waiting = states.get("WAITING", 0)
    if unfinished or (waiting and spec.timeout_seconds is None):
        raise SearchError(
            f"Search study '{study.study_name}' did not finish: trials by state {states}. "
            "A worker failed or was stopped; its log says why (run `churnops search-worker --study NAME` to finish the queue)."
        )
    done = studies.completed(study)
    if not done:
        raise SearchError(f"Search study '{study.study_name}' completed no trial (timeout {spec.timeout_seconds}s): raise the timeout.")
    history = [
        {
            "number": trial.number,
            "family": trial.user_attrs["family"],
            "params": trial.user_attrs["params"],
            "cv_roc_auc_mean": float(trial.value),
            "worker": trial.user_attrs["worker"],
            "seconds": (trial.datetime_complete - trial.datetime_start).total_seconds(),
            "completed_at": trial.datetime_complete.isoformat(),
        }
        for trial in done
    ]
    best = max(done, key=lambda trial: (float(trial.value), -trial.number))
    mlflow.log_figure(plot_history(history), "search/history.png")
    mlflow.log_dict({"study": study.study_name, "trials": history}, "search/trials.json")
    mlflow.log_metric("search_trials_completed", len(done))
    return SearchResult(
        family=best.user_attrs["family"],
        params=best.user_attrs["params"],
        cv_roc_auc_mean=float(best.value),
        cv_roc_auc_std=float(best.user_attrs["cv_roc_auc_std"]),
        trials=history,
        study_name=study.study_name,
    )


def plot_history(history: list[dict[str, Any]]) -> Figure:
    """Each trial's CV ROC AUC by family, with the best-so-far line."""
    figure, axes = plt.subplots(figsize=(8, 4.5))
    numbers = np.array([trial["number"] for trial in history])
    scores = np.array([trial["cv_roc_auc_mean"] for trial in history])
    for family in sorted({trial["family"] for trial in history}):
        mask = np.array([trial["family"] == family for trial in history])
        axes.scatter(numbers[mask], scores[mask], label=family, s=28)
    axes.step(numbers, np.maximum.accumulate(scores), where="post", color="black", linewidth=1, label="best so far")
    axes.set(xlabel="trial", ylabel="CV ROC AUC (train part)", title="Hyper-parameter search history")
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    plt.close(figure)
    return figure
