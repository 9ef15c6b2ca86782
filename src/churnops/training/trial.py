"""One search trial: sample a family and its parameters, cross-validate on the training part, log a nested MLflow run."""

from __future__ import annotations

import os
import socket
import warnings

import mlflow
import optuna
from sklearn.model_selection import StratifiedKFold, cross_val_score

from churnops.data.contract import DatasetContract
from churnops.data.split import Part
from churnops.training.families import build_pipeline, suggest_params
from churnops.training.study import StudySpec


class TrialObjective:
    """One trial: sample a family and its parameters, cross-validate, log a nested run under the study's parent run."""

    def __init__(self, contract: DatasetContract, train: Part, spec: StudySpec, n_jobs: int, worker: str) -> None:
        self.contract, self.train, self.spec, self.n_jobs = contract, train, spec, n_jobs
        self.worker = f"{socket.gethostname()}:{os.getpid()} ({worker})"
        self.folds = StratifiedKFold(n_splits=spec.cv_folds, shuffle=True, random_state=spec.seed)

    def __call__(self, trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", self.spec.families)
        params = suggest_params(trial, family)
        pipeline = build_pipeline(self.contract, family, params, self.spec.seed)
        run_name = f"trial-{trial.number:03d}-{family}"
        # The run starts before the CV: while the trial runs, MLflow and the study say who holds it; if its worker dies,
        # the process that finds the trial stale ends this run KILLED (study.RetryStaleTrial).
        # Tagged as it is created: a run whose worker dies at once is still found by its trial number.
        tags = {"churnops.kind": "search-trial", "optuna_trial": str(trial.number), "search_worker": self.worker}
        spec = self.spec
        with mlflow.start_run(run_name=run_name, nested=True, parent_run_id=spec.parent_run_id, experiment_id=spec.experiment_id, tags=tags) as run:
            trial.set_user_attr("worker", self.worker)
            trial.set_user_attr("mlflow_run_id", run.info.run_id)
            mlflow.log_params({"family": family, **params})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                scores = cross_val_score(pipeline, self.train.features, self.train.target, cv=self.folds, scoring="roc_auc", n_jobs=self.n_jobs)
            mean, std = float(scores.mean()), float(scores.std())
            mlflow.log_metrics({"cv_roc_auc_mean": mean, "cv_roc_auc_std": std})
        for key, value in {"family": family, "params": params, "cv_roc_auc_std": std}.items():
            trial.set_user_attr(key, value)
        return mean
