"""Held-out evaluation: metrics at the validation-chosen threshold, curves, and feature importance."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from churnops.data.split import Part


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    figures: dict[str, Figure] = field(default_factory=dict)
    importance: pd.DataFrame | None = None


def choose_threshold(target: pd.Series, probabilities: np.ndarray, metric: str = "f1") -> float:
    """The probability cut-off that maximises F1 (or Youden's J) on validation data."""
    if metric == "youden":
        false_positive, true_positive, thresholds = roc_curve(target, probabilities)
        best = int(np.argmax(true_positive - false_positive))
        return float(min(max(thresholds[best], 0.0), 1.0))
    precision, recall, thresholds = precision_recall_curve(target, probabilities)
    f1 = 2 * precision[:-1] * recall[:-1] / np.clip(precision[:-1] + recall[:-1], 1e-12, None)
    return float(thresholds[int(np.argmax(f1))])


def classification_metrics(target: pd.Series, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    labels = (probabilities >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(target, labels)),
        "precision": float(precision_score(target, labels, zero_division=0)),
        "recall": float(recall_score(target, labels)),
        "f1": float(f1_score(target, labels)),
        "roc_auc": float(roc_auc_score(target, probabilities)),
        "pr_auc": float(average_precision_score(target, probabilities)),
        "log_loss": float(log_loss(target, probabilities, labels=[0, 1])),
        "brier": float(brier_score_loss(target, probabilities)),
        "positive_rate": float(labels.mean()),
    }


def evaluate(pipeline: Pipeline, test: Part, threshold: float, seed: int, with_plots: bool = True) -> Evaluation:
    """Score `test` (never used for fitting or for the threshold) and draw the standard plots."""
    probabilities = pipeline.predict_proba(test.features)[:, 1]
    metrics = classification_metrics(test.target, probabilities, threshold)
    if not with_plots:
        return Evaluation(metrics)
    importance = feature_importance(pipeline, test, seed)
    figures = {
        "roc_curve.png": _plot(lambda ax: RocCurveDisplay.from_predictions(test.target, probabilities, ax=ax, plot_chance_level=True)),
        "precision_recall_curve.png": _plot(
            lambda ax: PrecisionRecallDisplay.from_predictions(test.target, probabilities, ax=ax, plot_chance_level=True)
        ),
        "confusion_matrix.png": _plot(
            lambda ax: ConfusionMatrixDisplay.from_predictions(
                test.target, (probabilities >= threshold).astype(int), display_labels=["stays", "churns"], ax=ax, colorbar=False
            ),
            title=f"Confusion matrix at threshold {threshold:.3f}",
        ),
        "calibration_curve.png": _plot(lambda ax: CalibrationDisplay.from_predictions(test.target, probabilities, n_bins=10, ax=ax)),
        "feature_importance.png": _plot_importance(importance),
    }
    return Evaluation(metrics, figures, importance)


def feature_importance(pipeline: Pipeline, test: Part, seed: int) -> pd.DataFrame:
    """Permutation importance of each input column (drop in test ROC AUC): the same for every family."""
    result = permutation_importance(pipeline, test.features, test.target, scoring="roc_auc", n_repeats=3, random_state=seed, n_jobs=1)
    return (
        pd.DataFrame({"feature": test.features.columns, "importance": result.importances_mean, "std": result.importances_std})
        .sort_values("importance", ascending=False)
        .reset_index(drop=True)
    )


def _plot(draw: object, title: str | None = None) -> Figure:
    figure, axes = plt.subplots(figsize=(6, 5))
    draw(axes)  # type: ignore[operator]
    if title:
        axes.set_title(title)
    figure.tight_layout()
    plt.close(figure)
    return figure


def _plot_importance(importance: pd.DataFrame) -> Figure:
    shown = importance.head(15).iloc[::-1]
    figure, axes = plt.subplots(figsize=(7, 5))
    axes.barh(shown["feature"], shown["importance"], xerr=shown["std"], color="#4c72b0")
    axes.set(xlabel="drop in ROC AUC when shuffled", title="Permutation feature importance (test set)")
    figure.tight_layout()
    plt.close(figure)
    return figure
