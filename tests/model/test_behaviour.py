"""Behavioural tests of models trained on the real Telco data: direction, invariance, minimum quality,
the ONNX fast path and safe (skops) serialisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from churnops.data.contract import DatasetContract
from churnops.data.loading import Dataset, load_dataset
from churnops.data.split import Split
from churnops.model.onnx import OnnxChurnModel, export_onnx
from churnops.training import families

# A small forest keeps the suite fast; the behaviour under test does not depend on its size.
SMALL_FOREST = {**families.DEFAULT_PARAMS["random_forest"], "n_estimators": 30}
PARAMS: dict[str, dict[str, Any]] = {
    "logistic_regression": families.DEFAULT_PARAMS["logistic_regression"],
    "random_forest": SMALL_FOREST,
    "gradient_boosting": families.DEFAULT_PARAMS["gradient_boosting"],
    "lightgbm": families.DEFAULT_PARAMS["lightgbm"],
}
ALL_FAMILIES = list(PARAMS)
MAIN_FAMILIES = ["logistic_regression", "gradient_boosting", "lightgbm"]


@pytest.fixture(scope="session")
def trained(contract: DatasetContract, telco_split: Split) -> dict[str, Pipeline]:
    """One pipeline per family, fitted once on the Telco training part."""
    train = telco_split.train
    return {family: families.build_pipeline(contract, family, params, 42).fit(train.features, train.target) for family, params in PARAMS.items()}


def churn_probability(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(frame)[:, 1]


# --- minimum functionality ---------------------------------------------------------------------


@pytest.mark.parametrize("family", MAIN_FAMILIES)
def test_test_roc_auc_is_at_least_0_80(trained: dict[str, Pipeline], telco_split: Split, family: str) -> None:
    test = telco_split.test
    assert roc_auc_score(test.target, churn_probability(trained[family], test.features)) >= 0.80


@pytest.mark.parametrize("family", MAIN_FAMILIES)
def test_probabilities_are_valid_and_not_constant(trained: dict[str, Pipeline], telco_split: Split, family: str) -> None:
    probabilities = churn_probability(trained[family], telco_split.test.features)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert probabilities.std() > 0.1


# --- directional expectation -------------------------------------------------------------------


@pytest.mark.parametrize("family", MAIN_FAMILIES)
def test_month_to_month_contract_scores_higher_than_two_year(trained: dict[str, Pipeline], telco_split: Split, family: str) -> None:
    customers = telco_split.test.features
    month_to_month = churn_probability(trained[family], customers.assign(Contract="Month-to-month"))
    two_year = churn_probability(trained[family], customers.assign(Contract="Two year"))
    assert np.mean(month_to_month > two_year) >= 0.95
    assert np.mean(month_to_month - two_year) > 0.05


# --- invariance to the customer id -------------------------------------------------------------


@pytest.mark.parametrize("family", MAIN_FAMILIES)
def test_model_input_has_no_id_column(trained: dict[str, Pipeline], contract: DatasetContract, family: str) -> None:
    assert list(trained[family].feature_names_in_) == contract.feature_columns
    assert contract.id_column not in trained[family].feature_names_in_


def test_changing_customer_ids_in_the_file_changes_neither_data_nor_predictions(
    tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame, telco: Dataset, trained: dict[str, Pipeline]
) -> None:
    renamed = telco_frame.assign(customerID=[f"NEW-{i:05d}" for i in range(len(telco_frame))])
    renamed.to_csv(tmp_path / "renamed_ids.csv", index=False)
    reloaded = load_dataset(tmp_path / "renamed_ids.csv", contract)

    assert reloaded.ids is not None and telco.ids is not None
    assert not set(reloaded.ids) & set(telco.ids)
    # the fingerprint covers features and target only, so new ids give the same fingerprint
    assert reloaded.fingerprint == telco.fingerprint
    pd.testing.assert_frame_equal(reloaded.features, telco.features)
    for pipeline in trained.values():
        np.testing.assert_array_equal(churn_probability(pipeline, reloaded.features), churn_probability(pipeline, telco.features))


def test_an_extra_id_column_in_the_input_is_ignored(trained: dict[str, Pipeline], telco_split: Split) -> None:
    test = telco_split.test
    pipeline = trained["gradient_boosting"]
    with_ids = test.features.assign(customerID=test.ids)
    with_other_ids = test.features.assign(customerID=[f"X{i}" for i in range(len(test.features))])
    np.testing.assert_array_equal(churn_probability(pipeline, with_ids), churn_probability(pipeline, with_other_ids))
    np.testing.assert_array_equal(churn_probability(pipeline, with_ids), churn_probability(pipeline, test.features))


# --- the ONNX fast path ------------------------------------------------------------------------


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_onnx_fast_path_matches_sklearn(
    tmp_path: Path, contract: DatasetContract, trained: dict[str, Pipeline], telco_split: Split, family: str
) -> None:
    pipeline = trained[family]
    fast = OnnxChurnModel(export_onnx(pipeline, contract, tmp_path / "model.onnx"), contract)
    frame = telco_split.test.features
    np.testing.assert_allclose(fast.predict_proba(frame), churn_probability(pipeline, frame), rtol=0, atol=1e-5)


@pytest.mark.parametrize("family", ["gradient_boosting", "lightgbm"])
def test_onnx_fast_path_handles_missing_and_unseen_values(
    tmp_path: Path, contract: DatasetContract, trained: dict[str, Pipeline], telco_split: Split, family: str
) -> None:
    pipeline = trained[family]
    fast = OnnxChurnModel(export_onnx(pipeline, contract, tmp_path / "model.onnx"), contract)
    frame = telco_split.test.features.head(20).assign(TotalCharges=np.nan, tenure=0, PaymentMethod="Crypto")
    np.testing.assert_allclose(fast.predict_proba(frame), churn_probability(pipeline, frame), rtol=0, atol=1e-5)


# --- safe serialisation ------------------------------------------------------------------------


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_skops_needs_only_the_declared_trusted_types(trained: dict[str, Pipeline], telco_split: Split, family: str) -> None:
    data = skops.io.dumps(trained[family])
    untrusted = skops.io.get_untrusted_types(data=data)
    assert set(untrusted) <= set(families.trusted_types(family))
    loaded = skops.io.loads(data, trusted=families.trusted_types(family))
    frame = telco_split.test.features
    np.testing.assert_array_equal(churn_probability(loaded, frame), churn_probability(trained[family], frame))
