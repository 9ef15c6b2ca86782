"""DataFrames in any form pandas reads a customer file, checked against the contract (what the logged model does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnops.data.contract import DatasetContract
from churnops.data.loading import load_customers, validate_frame
from churnops.errors import DataError


@pytest.fixture(scope="module")
def raw(telco_csv: Path) -> pd.DataFrame:
    return pd.read_csv(telco_csv).drop(columns="Churn")


def test_the_raw_file_as_pandas_reads_it_gives_the_loaders_model_frame(raw: pd.DataFrame, telco_csv: Path, contract: DatasetContract) -> None:
    frame = validate_frame(raw, contract)
    expected = load_customers(telco_csv, contract).features.reset_index(drop=True)
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected)
    assert set(frame["SeniorCitizen"]) == {"No", "Yes"} and frame["TotalCharges"].isna().sum() == 11


def test_codes_as_floats_strings_and_contract_values_all_decode(raw: pd.DataFrame, contract: DatasetContract) -> None:
    rows = raw.head(4).copy()
    rows["SeniorCitizen"] = pd.Series([0.0, 1.0, "1", "No"], dtype=object)
    rows["tenure"] = ["12", 3.0, 7, " 5 "]
    frame = validate_frame(rows, contract)
    assert frame["SeniorCitizen"].tolist() == ["No", "Yes", "Yes", "No"]
    assert frame["tenure"].tolist() == [12, 3, 7, 5] and frame["tenure"].dtype == np.int64


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("tenure", True, "column 'tenure': expected whole numbers"),
        ("MonthlyCharges", float("inf"), "column 'MonthlyCharges': expected numbers"),
        ("MonthlyCharges", "12,5", "column 'MonthlyCharges': expected numbers"),
        ("gender", "Robot", "column 'gender': unknown category (allowed: Female, Male)"),
        ("tenure", 12.5, "column 'tenure': expected whole numbers"),
        ("Contract", None, "column 'Contract': missing value"),
    ],
)
def test_values_outside_the_contract_name_column_and_row(
    raw: pd.DataFrame, contract: DatasetContract, column: str, value: object, message: str
) -> None:
    rows = raw.head(3).copy().astype(object)
    rows.loc[1, column] = value
    with pytest.raises(DataError) as raised:
        validate_frame(rows, contract)
    assert message in str(raised.value) and "row 1" in str(raised.value)
    assert str(raised.value).startswith("The input breaks contract 'telco-customer-churn'")


def test_a_missing_column_is_named_and_extra_columns_are_ignored(raw: pd.DataFrame, contract: DatasetContract) -> None:
    with pytest.raises(DataError, match="missing column\\(s\\) 'Contract'"):
        validate_frame(raw.head(2).drop(columns="Contract"), contract)
    assert len(validate_frame(raw.head(2).assign(notes="vip"), contract)) == 2
    with pytest.raises(DataError, match="no rows"):
        validate_frame(raw.head(0), contract)
