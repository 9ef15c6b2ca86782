"""Monitoring figures on small hand-made frames, where the right answer is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from churnops.errors import ConfigError
from churnops.monitoring.alerts import RULES, evaluate_rules
from churnops.monitoring.health import measure_service
from churnops.monitoring.performance import expected_calibration_error, measure_performance
from churnops.monitoring.quality import check_quality
from churnops.monitoring.window import Window, parse_duration
from churnops.settings import Settings

WINDOW = Window(datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_window_lengths(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    window = Window.ending(text, WINDOW.end)
    assert window.end - window.start == expected


@pytest.mark.parametrize("text", ["1 day", "yesterday", "0d", "-1h", "", "1y"])
def test_bad_window_lengths_are_explained(text: str) -> None:
    with pytest.raises(ConfigError, match="30m, 6h, 1d"):
        parse_duration(text)


def test_quality_counts_missing_out_of_range_and_unseen_cells() -> None:
    reference = pd.DataFrame({"tenure": [1, 10, 72], "Contract": ["One year", "Two year", "One year"]})
    current = pd.DataFrame({"tenure": [0, 5, 80, None], "Contract": ["Month-to-month", "One year", None, "Month-to-month"]})
    quality = check_quality(reference, current, ["tenure"], ["Contract"])
    assert quality.rows == 4
    assert quality.missing_by_feature == {"tenure": 1, "Contract": 1} and quality.missing_share == 2 / 8
    assert quality.out_of_range_by_feature == {"tenure": 2} and quality.out_of_range_share == 2 / 4
    assert quality.unseen_categories == {"Contract": ["Month-to-month"]} and quality.unseen_category_share == 2 / 4


def test_quality_of_an_empty_window_is_zero_not_an_error() -> None:
    reference = pd.DataFrame({"tenure": [1], "Contract": ["One year"]})
    quality = check_quality(reference, reference.iloc[:0], ["tenure"], ["Contract"])
    assert (quality.rows, quality.missing_share, quality.out_of_range_share, quality.unseen_category_share) == (0, 0.0, 0.0, 0.0)


def test_performance_matches_sklearn_and_ignores_unlabelled_rows() -> None:
    rng = np.random.default_rng(0)
    probability = rng.random(400)
    truth = (rng.random(400) < probability).astype(float)
    truth[::4] = np.nan  # a quarter without feedback
    frame = pd.DataFrame({"probability": probability, "label": probability >= 0.5, "churned": truth})
    result = measure_performance(frame, {"roc_auc": 0.84})
    labelled = frame[frame["churned"].notna()]
    assert result.labelled == 300
    assert result.roc_auc == pytest.approx(roc_auc_score(labelled["churned"], labelled["probability"]))
    assert result.f1 == pytest.approx(f1_score(labelled["churned"], labelled["label"]))
    assert result.positive_rate == pytest.approx(frame["label"].mean())  # over all predictions
    assert result.reference == {"roc_auc": 0.84}


def test_performance_without_feedback_or_with_one_class() -> None:
    frame = pd.DataFrame({"probability": [0.2, 0.8], "label": [False, True], "churned": [np.nan, np.nan]})
    assert measure_performance(frame, {}).roc_auc is None
    one_class = frame.assign(churned=[1.0, 1.0])
    result = measure_performance(one_class, {})
    assert result.roc_auc is None and result.recall == 0.5


def test_calibration_error_is_zero_when_rates_match_and_large_when_not() -> None:
    probability = np.array([0.25] * 4 + [0.75] * 4)
    assert expected_calibration_error(np.array([1, 0, 0, 0, 1, 1, 1, 0]), probability) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([1, 1, 1, 1, 0, 0, 0, 0]), probability) == pytest.approx(0.75)


def test_service_percentiles_and_error_rate() -> None:
    requests = pd.DataFrame(
        {"status": [200] * 96 + [422, 404, 500, 503], "latency_ms": list(range(1, 101)), "endpoint": "/predict", "method": "POST"}
    )
    service = measure_service(requests, predictions=96)
    assert service.requests == 100 and service.errors == 2 and service.client_errors == 2 and service.error_rate == 0.02
    assert service.latency_p50_ms == pytest.approx(50.5) and service.latency_p99_ms == pytest.approx(99.01)
    empty = measure_service(requests.iloc[:0], predictions=0)
    assert empty.latency_p99_ms is None and empty.error_rate == 0.0


def test_each_rule_fires_only_past_its_threshold() -> None:
    settings = Settings()
    for rule in RULES:
        threshold = float(getattr(settings.alerts, rule.threshold_setting))
        inside = threshold * (1.1 if rule.comparison == "<" else 0.9)
        outside = threshold * (0.9 if rule.comparison == "<" else 1.1)
        assert evaluate_rules({rule.metric: inside}, settings.alerts, WINDOW, "3", "run") == [], rule.name
        alerts = evaluate_rules({rule.metric: outside}, settings.alerts, WINDOW, "3", "run")
        assert [alert.rule for alert in alerts] == [rule.name]
        assert alerts[0].value == outside and alerts[0].threshold == threshold and "version 3" in alerts[0].message


def test_unmeasured_figures_raise_no_alert() -> None:
    assert evaluate_rules({}, Settings().alerts, WINDOW, None, None) == []


def test_only_model_problems_ask_for_retraining() -> None:
    assert {rule.name for rule in RULES if rule.retrain} == {"data_drift", "prediction_drift", "performance"}
