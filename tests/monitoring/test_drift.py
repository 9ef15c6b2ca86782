"""The drift detector on real Telco data: quiet on reference-like traffic, loud on drifted traffic.

`check_verdicts` is the behaviour; the last two tests prove it catches a detector that always
alerts and one that never alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from churnops.data.contract import DatasetContract
from churnops.data.loading import Dataset
from churnops.data.split import Split
from churnops.features import build_preprocessor
from churnops.model.reference import PROBABILITY
from churnops.monitoring.drift import DriftConfig, DriftResult, FeatureDrift, detect_drift
from churnops.settings import Settings
from tests.support.traffic import customers

Detector = Callable[[pd.DataFrame, pd.DataFrame, list[str], list[str], str, DriftConfig], DriftResult]
ALERT_SHARE = Settings.flat_fields()["alert_drift_share"].default
SHIFTED = {"Contract", "MonthlyCharges", "tenure", "PaymentMethod"}  # what traffic.drift moves most


@dataclass(frozen=True)
class Samples:
    reference: pd.DataFrame
    similar: pd.DataFrame  # fresh customers of the same population
    drifted: pd.DataFrame


@pytest.fixture(scope="module")
def samples(telco: Dataset, telco_split: Split, contract: DatasetContract) -> Samples:
    model = Pipeline([("prepare", build_preprocessor(contract)), ("model", LogisticRegression(max_iter=500))])
    model.fit(telco_split.train.features, telco_split.train.target)

    def scored(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{PROBABILITY: model.predict_proba(frame)[:, 1]})

    # "Similar" traffic is the held-out test customers: same population, never in the reference.
    test = telco_split.test.features
    similar = test.sample(3000, replace=True, random_state=5).reset_index(drop=True)
    drifted, _ = customers(Dataset(test, telco_split.test.target, None, "test", ""), 3000, seed=6, drifted=True)
    return Samples(scored(telco_split.train.features), scored(similar), scored(drifted))


def run(detector: Detector, reference: pd.DataFrame, current: pd.DataFrame, contract: DatasetContract) -> DriftResult:
    return detector(reference, current, contract.numeric_columns, contract.categorical_columns, PROBABILITY, DriftConfig())


def check_verdicts(detector: Detector, samples: Samples, contract: DatasetContract) -> None:
    quiet = run(detector, samples.reference, samples.similar, contract)
    assert quiet.share_drifted < ALERT_SHARE, f"reference-like traffic flagged: {quiet.drifted_features}"
    assert not quiet.drifted_features, quiet.drifted_features
    assert not quiet.prediction.drifted, quiet.prediction

    loud = run(detector, samples.reference, samples.drifted, contract)
    assert loud.share_drifted >= ALERT_SHARE, f"drifted traffic not flagged enough: {loud.drifted_features}"
    assert SHIFTED <= set(loud.drifted_features)
    assert loud.prediction.drifted, loud.prediction


def test_reference_like_traffic_is_quiet_and_drifted_traffic_alerts(samples: Samples, contract: DatasetContract) -> None:
    check_verdicts(detect_drift, samples, contract)


def test_psi_and_scores_grow_with_the_shift(samples: Samples, contract: DatasetContract) -> None:
    quiet = run(detect_drift, samples.reference, samples.similar, contract)
    loud = run(detect_drift, samples.reference, samples.drifted, contract)
    assert set(quiet.features) == set(contract.feature_columns)
    for name in SHIFTED:
        assert loud.features[name].psi > DriftConfig().psi_threshold > quiet.features[name].psi, name
        assert loud.features[name].score > quiet.features[name].score, name
    assert loud.features["gender"].drifted is False  # untouched by the shift


def test_p_value_methods_read_in_the_other_direction(samples: Samples, contract: DatasetContract) -> None:
    """KS / chi-square give p-values: drift is a *small* score. A sign error would invert every verdict."""
    config = DriftConfig(numeric_method="ks", categorical_method="chisquare", threshold=0.001)
    loud = detect_drift(samples.reference, samples.drifted, contract.numeric_columns, contract.categorical_columns, PROBABILITY, config)
    assert loud.features["Contract"].drifted and loud.features["Contract"].score < 0.001
    assert not loud.features["gender"].drifted and loud.features["gender"].score > 0.001


def test_the_html_report_has_a_drift_widget_per_test(samples: Samples, contract: DatasetContract, tmp_path: Path) -> None:
    result = run(detect_drift, samples.reference, samples.drifted, contract)
    path = result.save_html(tmp_path / "report.html")
    assert path is not None
    html = path.read_text()
    # one per feature and the prediction, for the test and for PSI
    assert html.count("Drift in column") == 2 * (len(contract.feature_columns) + 1)
    assert "Drifted Columns" in html


def _constant(drifted: bool) -> Detector:
    def detector(reference, current, numeric, categorical, prediction, config):  # type: ignore[no-untyped-def]
        verdict = FeatureDrift("constant", 1.0 if drifted else 0.0, config.threshold, drifted, 1.0 if drifted else 0.0)
        return DriftResult({name: verdict for name in [*numeric, *categorical]}, verdict, None)

    return detector


@pytest.mark.parametrize("always", [True, False], ids=["always-alerts", "never-alerts"])
def test_the_check_catches_a_constant_detector(samples: Samples, contract: DatasetContract, always: bool) -> None:
    with pytest.raises(AssertionError):
        check_verdicts(_constant(always), samples, contract)
