"""Feature engineering: the engineered-feature transformers and the preprocessor built from the contract."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnops.data.contract import DatasetContract
from churnops.features import CountEqual, RatioFeature, build_preprocessor


def test_ratio_divides_numerator_by_denominator() -> None:
    result = RatioFeature().fit_transform(np.array([[120.0, 12.0], [50.0, 4.0]]))
    assert result.shape == (2, 1)
    np.testing.assert_allclose(result[:, 0], [10.0, 12.5])


def test_ratio_floors_the_denominator_at_one() -> None:
    # tenure 0 (a brand-new customer) and fractional tenure are both divided by 1, never by 0 or 0.5
    result = RatioFeature().transform(np.array([[30.0, 0.0], [30.0, 0.5], [30.0, -2.0]]))
    np.testing.assert_array_equal(result[:, 0], [30.0, 30.0, 30.0])
    assert np.all(np.isfinite(result))


def test_ratio_floor_is_configurable() -> None:
    result = RatioFeature(min_denominator=5.0).transform(np.array([[30.0, 2.0], [30.0, 10.0]]))
    np.testing.assert_array_equal(result[:, 0], [6.0, 3.0])


def test_ratio_passes_missing_numerator_through_as_nan() -> None:
    # blank TotalCharges is imputed later in the pipeline, not turned into a number here
    result = RatioFeature().transform(pd.DataFrame({"TotalCharges": [np.nan, 20.0], "tenure": [0, 2]}))
    assert np.isnan(result[0, 0])
    assert result[1, 0] == 10.0


def test_count_equal_counts_matching_cells_per_row() -> None:
    frame = pd.DataFrame(
        {
            "a": ["Yes", "No", "Yes", "No internet service"],
            "b": ["Yes", "No", "No", "No internet service"],
            "c": ["Yes", "Yes", None, "No internet service"],
        }
    )
    result = CountEqual(value="Yes").fit_transform(frame)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result[:, 0], [3, 1, 1, 0])


def test_count_equal_is_case_sensitive_and_counts_the_configured_value() -> None:
    frame = pd.DataFrame({"a": ["yes", "No"], "b": ["No", "No"]})
    np.testing.assert_array_equal(CountEqual(value="Yes").transform(frame)[:, 0], [0, 0])
    np.testing.assert_array_equal(CountEqual(value="No").transform(frame)[:, 0], [1, 2])


def _one_hot_width(contract: DatasetContract) -> int:
    return sum(len(contract.columns[name].values or []) for name in contract.categorical_columns)


def test_preprocessor_width_is_numeric_plus_one_hot_plus_engineered(contract: DatasetContract) -> None:
    frame = pd.DataFrame([contract.example_record()] * 3)
    output = build_preprocessor(contract).fit_transform(frame)
    expected = len(contract.numeric_columns) + _one_hot_width(contract) + len(contract.engineered_features)
    assert expected == 3 + 43 + 2
    assert output.shape == (3, expected)


def test_preprocessor_engineered_features_come_last(contract: DatasetContract) -> None:
    preprocessor = build_preprocessor(contract).fit(pd.DataFrame([contract.example_record()] * 2))
    names = list(preprocessor.get_feature_names_out())
    assert names[-2:] == ["charges_per_tenure_month__ratio", "subscribed_services__count"]


def test_unknown_category_at_transform_time_is_ignored(contract: DatasetContract) -> None:
    training = pd.DataFrame([contract.example_record()] * 4)
    preprocessor = build_preprocessor(contract).fit(training)
    known = training.iloc[[0]]
    unseen = known.assign(Contract="Three year")
    known_row = preprocessor.transform(known)[0]
    unseen_row = preprocessor.transform(unseen)[0]
    names = list(preprocessor.get_feature_names_out())
    contract_slots = [i for i, name in enumerate(names) if name.startswith("categorical__Contract_")]
    assert len(contract_slots) == 3
    assert known_row[contract_slots].sum() == 1.0
    assert unseen_row[contract_slots].sum() == 0.0  # all-zero one-hot, no exception
    other = [i for i in range(len(names)) if i not in contract_slots]
    np.testing.assert_array_equal(known_row[other], unseen_row[other])


def test_missing_numeric_value_is_imputed_not_propagated(contract: DatasetContract) -> None:
    training = pd.DataFrame([contract.example_record()] * 4).assign(TotalCharges=[100.0, 200.0, 300.0, 400.0])
    preprocessor = build_preprocessor(contract).fit(training)
    output = preprocessor.transform(training.iloc[[0]].assign(TotalCharges=np.nan))
    assert not np.isnan(output).any()
