"""The model families the search chooses from: how to build each, and the space it searches."""

from __future__ import annotations

from typing import Any

import optuna
from lightgbm import LGBMClassifier
from sklearn.base import ClassifierMixin
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from churnops.data.contract import DatasetContract
from churnops.features import TRUSTED_FEATURE_TYPES, Float32Cast, build_preprocessor
from churnops.settings import Family

TREE_FAMILIES = {"random_forest", "gradient_boosting", "lightgbm"}
PREFIXES = {"logistic_regression": "lr", "random_forest": "rf", "gradient_boosting": "gb", "lightgbm": "lgbm"}

# Known-good starting points, evaluated first so the search never ends below a sensible baseline.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"C": 1.0},
    "random_forest": {"n_estimators": 300, "max_depth": 12, "min_samples_leaf": 10, "max_features": 0.3},
    "gradient_boosting": {
        "n_estimators": 300,
        "learning_rate": 0.03,
        "max_depth": 2,
        "min_samples_leaf": 20,
        "subsample": 0.7,
        "max_features": 0.5,
    },
    # Shallow, slow and regularised: churn is a small, mostly additive signal (logistic regression is close behind).
    "lightgbm": {
        "n_estimators": 400,
        "learning_rate": 0.02,
        "num_leaves": 8,
        "min_child_samples": 40,
        "subsample": 0.8,
        "colsample_bytree": 0.5,
        "reg_lambda": 5.0,
    },
}


def suggest_params(trial: optuna.Trial, family: str) -> dict[str, Any]:
    """Sample hyper-parameters for `family`; names are prefixed so families do not share distributions."""
    if family == "logistic_regression":
        return {"C": trial.suggest_float("lr.C", 1e-3, 10.0, log=True)}
    if family == "random_forest":
        return {
            "n_estimators": trial.suggest_int("rf.n_estimators", 100, 400, step=50),
            "max_depth": trial.suggest_int("rf.max_depth", 4, 16),
            "min_samples_leaf": trial.suggest_int("rf.min_samples_leaf", 2, 40),
            "max_features": trial.suggest_float("rf.max_features", 0.15, 0.8),
        }
    if family == "lightgbm":
        return {
            "n_estimators": trial.suggest_int("lgbm.n_estimators", 100, 1000, step=50),
            "learning_rate": trial.suggest_float("lgbm.learning_rate", 0.005, 0.1, log=True),
            "num_leaves": trial.suggest_int("lgbm.num_leaves", 3, 32),
            "min_child_samples": trial.suggest_int("lgbm.min_child_samples", 10, 150),
            "subsample": trial.suggest_float("lgbm.subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("lgbm.colsample_bytree", 0.2, 1.0),
            "reg_lambda": trial.suggest_float("lgbm.reg_lambda", 1e-3, 30.0, log=True),
        }
    return {
        "n_estimators": trial.suggest_int("gb.n_estimators", 100, 500, step=50),
        "learning_rate": trial.suggest_float("gb.learning_rate", 0.01, 0.2, log=True),
        "max_depth": trial.suggest_int("gb.max_depth", 2, 4),
        "min_samples_leaf": trial.suggest_int("gb.min_samples_leaf", 5, 80),
        "subsample": trial.suggest_float("gb.subsample", 0.5, 1.0),
        "max_features": trial.suggest_float("gb.max_features", 0.3, 1.0),
    }


def to_trial_params(family: str, params: dict[str, Any]) -> dict[str, Any]:
    """The Optuna parameter names for `params`, for enqueueing the defaults."""
    return {"family": family, **{f"{PREFIXES[family]}.{name}": value for name, value in params.items()}}


def build_classifier(family: str, params: dict[str, Any], seed: int) -> ClassifierMixin:
    if family == "logistic_regression":
        return LogisticRegression(max_iter=5000, random_state=seed, **params)
    if family == "random_forest":
        return RandomForestClassifier(random_state=seed, n_jobs=1, **params)
    if family == "gradient_boosting":
        return GradientBoostingClassifier(random_state=seed, **params)
    if family == "lightgbm":
        # One thread: the CV folds (and the search workers) are the parallelism; subsample needs a bagging frequency.
        return LGBMClassifier(random_state=seed, n_jobs=1, subsample_freq=1, verbose=-1, **params)
    raise ValueError(f"unknown model family '{family}'")


def build_pipeline(contract: DatasetContract, family: str, params: dict[str, Any], seed: int) -> Pipeline:
    """Preprocessing + classifier: the one object that is trained, logged, exported and served."""
    steps: list[tuple[str, Any]] = [("features", build_preprocessor(contract))]
    if family in TREE_FAMILIES:
        steps.append(("float32", Float32Cast()))
    steps.append(("classifier", build_classifier(family, params, seed)))
    return Pipeline(steps)


def trusted_types(family: Family | str) -> list[str]:
    """Exactly the non-sklearn-default types skops must trust to load this family's pipeline."""
    types = [*TRUSTED_FEATURE_TYPES, "numpy.dtype"]
    if family in ("random_forest", "gradient_boosting"):
        types.append("sklearn.tree._tree.Tree")
    if family == "lightgbm":
        types += ["lightgbm.sklearn.LGBMClassifier", "lightgbm.basic.Booster", "collections.OrderedDict"]
    return types
