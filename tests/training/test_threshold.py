"""Threshold choice on validation data and the held-out metrics, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churnops.training.evaluate import choose_threshold, classification_metrics


def test_choose_threshold_maximises_f1() -> None:
    # Positives score 0.9, 0.8, 0.6, 0.3; negatives 0.7, 0.2, 0.1. F1 = 2TP / (2TP + FP + FN):
    # cut >= 0.8: 4/6 = 0.667   cut >= 0.6: 6/8 = 0.75   cut >= 0.3: 8/9 = 0.889 (best)   cut >= 0.2: 8/10 = 0.8
    target = pd.Series([1, 1, 0, 1, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.2, 0.1])
    assert choose_threshold(target, scores) == pytest.approx(0.3)


def test_choose_threshold_prefers_a_high_cut_when_low_scores_are_negatives() -> None:
    # Cut >= 0.8: TP 2, FP 0, FN 0 -> F1 = 1; any lower cut adds false positives.
    target = pd.Series([1, 1, 0, 0, 0, 0])
    scores = np.array([0.95, 0.8, 0.7, 0.4, 0.3, 0.1])
    assert choose_threshold(target, scores) == pytest.approx(0.8)


def test_youden_threshold_maximises_tpr_minus_fpr() -> None:
    # Cut >= 0.6: TPR 3/4, FPR 0 -> J = 0.75; cut >= 0.3: TPR 1, FPR 1/3 -> J = 0.667.
    target = pd.Series([1, 1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.6, 0.5, 0.3, 0.2, 0.1])
    assert choose_threshold(target, scores, metric="youden") == pytest.approx(0.6)


def test_classification_metrics_match_hand_computed_values() -> None:
    target = pd.Series([1, 1, 0, 0, 1, 0])
    probabilities = np.array([0.9, 0.4, 0.6, 0.2, 0.7, 0.1])
    metrics = classification_metrics(target, probabilities, threshold=0.5)
    # labels at 0.5: [1, 0, 1, 0, 1, 0] -> TP 2, FN 1, FP 1, TN 2
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["positive_rate"] == pytest.approx(3 / 6)
    # ROC AUC: of the 9 (positive, negative) pairs, only (0.4 vs 0.6) is ordered wrongly -> 8/9
    assert metrics["roc_auc"] == pytest.approx(8 / 9)
    # Average precision: ranked 0.9(+) 0.7(+) 0.6(-) 0.4(+) -> (1 + 1 + 3/4) / 3
    assert metrics["pr_auc"] == pytest.approx((1 + 1 + 0.75) / 3)
    # Brier: squared errors 0.01, 0.36, 0.36, 0.04, 0.09, 0.01 -> 0.87 / 6
    assert metrics["brier"] == pytest.approx(0.145)
    expected_log_loss = -np.mean([math.log(0.9), math.log(0.4), math.log(0.4), math.log(0.8), math.log(0.7), math.log(0.9)])
    assert metrics["log_loss"] == pytest.approx(expected_log_loss)


def test_threshold_is_inclusive() -> None:
    target = pd.Series([1, 0])
    metrics = classification_metrics(target, np.array([0.5, 0.49]), threshold=0.5)
    assert metrics["accuracy"] == 1.0
    assert metrics["positive_rate"] == 0.5
