"""Model performance on the window's predictions that received feedback, beside the champion's test figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score

CALIBRATION_BINS = 10
BINARY_CLASSES = 2  # ROC AUC needs both churned and stayed among the labels


@dataclass(frozen=True)
class PerformanceResult:
    labelled: int  # predictions with feedback
    roc_auc: float | None  # None when only one class has come back
    precision: float | None
    recall: float | None
    f1: float | None
    brier: float | None
    calibration_error: float | None  # expected calibration error over 10 probability bins
    positive_rate: float | None  # share predicted to churn (all predictions of the window)
    observed_churn_rate: float | None  # share that did churn (labelled ones)
    reference: dict[str, float]  # the champion's test metrics, for comparison

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_performance(predictions: pd.DataFrame, reference_metrics: dict[str, float]) -> PerformanceResult:
    """`predictions` has probability, label (bool) and churned (1.0/0.0, NaN without feedback)."""
    positive_rate = float(predictions["label"].astype(bool).mean()) if len(predictions) else None
    labelled = predictions[predictions["churned"].notna()]
    if labelled.empty:
        return PerformanceResult(0, None, None, None, None, None, None, positive_rate, None, reference_metrics)
    truth = labelled["churned"].astype(int).to_numpy()
    probability = labelled["probability"].to_numpy(dtype=float)
    predicted = labelled["label"].astype(bool).to_numpy()
    both_classes = len(np.unique(truth)) == BINARY_CLASSES
    return PerformanceResult(
        labelled=len(labelled),
        roc_auc=float(roc_auc_score(truth, probability)) if both_classes else None,
        precision=float(precision_score(truth, predicted, zero_division=0)),
        recall=float(recall_score(truth, predicted, zero_division=0)),
        f1=float(f1_score(truth, predicted, zero_division=0)),
        brier=float(brier_score_loss(truth, probability)),
        calibration_error=expected_calibration_error(truth, probability),
        positive_rate=positive_rate,
        observed_churn_rate=float(truth.mean()),
        reference=reference_metrics,
    )


def expected_calibration_error(truth: np.ndarray, probability: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Mean |observed rate - mean predicted| over equal-width bins, weighted by bin size."""
    which = np.minimum((probability * bins).astype(int), bins - 1)
    error = 0.0
    for index in np.unique(which):
        members = which == index
        error += members.mean() * abs(truth[members].mean() - probability[members].mean())
    return float(error)
