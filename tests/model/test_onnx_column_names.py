"""The ONNX fast path for data sets whose column names are not identifiers: skl2onnx renames the inputs
('monthly spend ($)' -> 'monthly_spend____'), the export records which input is which column, and the
model scores frames and API records by column name, for every model family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from churnops.data.contract import DatasetContract, load_contract
from churnops.data.loading import Dataset, load_dataset
from churnops.model.onnx import FastPathError, OnnxChurnModel, export_onnx
from churnops.training import families
from tests.support.datasets import GYM, SUBSCRIPTION, OtherDataset, write

PARAMS: dict[str, dict[str, Any]] = {  # small ensembles: the conversion, not the model's size, is under test
    "logistic_regression": families.DEFAULT_PARAMS["logistic_regression"],
    "random_forest": {**families.DEFAULT_PARAMS["random_forest"], "n_estimators": 30},
    "gradient_boosting": {**families.DEFAULT_PARAMS["gradient_boosting"], "n_estimators": 40},
    "lightgbm": {**families.DEFAULT_PARAMS["lightgbm"], "n_estimators": 60},
}


@pytest.fixture(scope="module", params=[SUBSCRIPTION, GYM], ids=lambda dataset: dataset.name)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[DatasetContract, Dataset]:
    dataset: OtherDataset = request.param
    csv, contract_path = write(dataset, tmp_path_factory.mktemp(dataset.name), rows=600, seed=5)
    contract = load_contract(contract_path)
    return contract, load_dataset(csv, contract)


@pytest.mark.parametrize("family", list(PARAMS))
def test_onnx_matches_sklearn_with_non_identifier_column_names(tmp_path: Path, loaded: tuple[DatasetContract, Dataset], family: str) -> None:
    contract, data = loaded
    pipeline = families.build_pipeline(contract, family, PARAMS[family], 0).fit(data.features, data.target)
    fast = OnnxChurnModel(export_onnx(pipeline, contract, tmp_path / "model.onnx"), contract)
    onnx_names = [name for name, _ in fast.inputs]
    assert [column for _, column in fast.inputs] == contract.feature_columns
    assert onnx_names != contract.feature_columns, "skl2onnx renamed the inputs (the case this mapping exists for)"
    expected = pipeline.predict_proba(data.features)[:, 1]
    np.testing.assert_allclose(fast.predict_proba(data.features), expected, rtol=0, atol=1e-5)
    head = data.features.head(50)
    records = head.astype(object).where(head.notna(), None).to_dict("records")  # as the API dumps them: a blank is None
    assert any(None in record.values() for record in records) or not any(spec.nullable for spec in contract.columns.values())
    np.testing.assert_allclose(fast.predict_records(records), expected[:50], rtol=0, atol=1e-5)


def test_columns_are_matched_by_name_not_by_the_contract_order(tmp_path: Path, loaded: tuple[DatasetContract, Dataset]) -> None:
    contract, data = loaded
    pipeline = families.build_pipeline(contract, "logistic_regression", PARAMS["logistic_regression"], 0).fit(data.features, data.target)
    path = export_onnx(pipeline, contract, tmp_path / "model.onnx")
    reordered = contract.model_copy(update={"columns": dict(reversed(contract.columns.items()))})
    fast = OnnxChurnModel(path, reordered)
    np.testing.assert_allclose(fast.predict_proba(data.features), pipeline.predict_proba(data.features)[:, 1], rtol=0, atol=1e-5)


def test_a_contract_with_other_columns_is_refused_with_a_clear_error(tmp_path: Path, loaded: tuple[DatasetContract, Dataset]) -> None:
    contract, data = loaded
    pipeline = families.build_pipeline(contract, "logistic_regression", PARAMS["logistic_regression"], 0).fit(data.features, data.target)
    path = export_onnx(pipeline, contract, tmp_path / "model.onnx")
    first = contract.feature_columns[0]
    renamed = contract.model_copy(
        update={"columns": {f"{first} (renamed)" if name == first else name: spec for name, spec in contract.columns.items()}}
    )
    with pytest.raises(FastPathError, match="contract the model was trained with"):
        OnnxChurnModel(path, renamed)
