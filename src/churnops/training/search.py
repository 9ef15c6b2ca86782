"""Hyper-parameter search with Optuna on cross-validated ROC AUC; every trial a nested MLflow run."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: plots are files, never windows
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import optuna
from matplotlib.figure import Figure
from sklearn.model_selection import StratifiedKFold, cross_val_score

from churnops.data.contract import DatasetContract
from churnops.data.split import Part
from churnops.settings import SearchSettings
from churnops.training.families import DEFAULT_PARAMS, build_pipeline, suggest_params, to_trial_params

TrialCallback = Callable[[int, int, float, float], None]  # (done, total, trial score, best score)


@dataclass(frozen=True)
class SearchResult:
    family: str
    params: dict[str, Any]
    cv_roc_auc_mean: float
    cv_roc_auc_std: float
    trials: list[dict[str, Any]]


def search(contract: DatasetContract, train: Part, settings: SearchSettings, seed: int, on_trial: TrialCallback | None = None) -> SearchResult:
    """Run the study inside the active MLflow run; returns the best family and parameters."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folds = StratifiedKFold(n_splits=settings.cv_folds, shuffle=True, random_state=seed)
    families = list(settings.families)
    history: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", families)
        params = suggest_params(trial, family)
        pipeline = build_pipeline(contract, family, params, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            scores = cross_val_score(pipeline, train.features, train.target, cv=folds, scoring="roc_auc", n_jobs=settings.n_jobs)
        with mlflow.start_run(run_name=f"trial-{trial.number:03d}-{family}", nested=True):
            mlflow.set_tag("churnops.kind", "search-trial")
            mlflow.log_params({"family": family, **params})
            mlflow.log_metrics({"cv_roc_auc_mean": float(scores.mean()), "cv_roc_auc_std": float(scores.std())})
        trial.set_user_attr("cv_roc_auc_std", float(scores.std()))
        history.append({"number": trial.number, "family": family, "params": params, "cv_roc_auc_mean": float(scores.mean())})
        return float(scores.mean())

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    for family in families[: settings.trials]:
        study.enqueue_trial(to_trial_params(family, DEFAULT_PARAMS[family]))

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(len(study.trials), settings.trials, float(trial.value or 0.0), float(study.best_value))

    study.optimize(objective, n_trials=settings.trials, timeout=settings.timeout_seconds, callbacks=[report])
    best = max(history, key=lambda trial: (trial["cv_roc_auc_mean"], -trial["number"]))
    mlflow.log_figure(plot_history(history), "search/history.png")
    mlflow.log_dict({"trials": history}, "search/trials.json")
    best_trial = study.trials[best["number"]]
    return SearchResult(
        family=best["family"],
        params=best["params"],
        cv_roc_auc_mean=best["cv_roc_auc_mean"],
        cv_roc_auc_std=float(best_trial.user_attrs["cv_roc_auc_std"]),
        trials=history,
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
