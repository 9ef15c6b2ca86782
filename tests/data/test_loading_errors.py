"""Loading a CSV against the contract: every bad file gives a DataError that names the file, the column and the lines;
common export variants load to exactly the same data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnops.cli import app
from churnops.data.contract import DatasetContract
from churnops.data.loading import Dataset, load_dataset
from churnops.errors import DataError
from tests.support.paths import CONTRACT_PATH

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def line(row_index: int) -> str:
    """The file line of a data row (line 1 is the header)."""
    return f"line {row_index + 2}"


def write_frame(path: Path, frame: pd.DataFrame, **to_csv: object) -> Path:
    frame.to_csv(path, index=False, **to_csv)  # type: ignore[call-overload]
    return path


def load_error(path: Path, contract: DatasetContract) -> str:
    with pytest.raises(DataError) as caught:
        load_dataset(path, contract)
    message = str(caught.value)
    assert str(path) in message, "every data error names the file"
    return message


# --- unreadable files --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path, contract: DatasetContract) -> None:
    message = load_error(tmp_path / "nowhere.csv", contract)
    assert "does not exist" in message


def test_directory_instead_of_file(tmp_path: Path, contract: DatasetContract) -> None:
    message = load_error(tmp_path, contract)
    assert "is a directory" in message


def test_empty_file(tmp_path: Path, contract: DatasetContract) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert "is empty" in load_error(path, contract)


def test_whitespace_only_file_counts_as_empty(tmp_path: Path, contract: DatasetContract) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n  \n\n", encoding="utf-8")
    assert "is empty" in load_error(path, contract)


def test_header_without_rows(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    path = write_frame(tmp_path / "header.csv", telco_frame.head(0))
    assert "no data rows" in load_error(path, contract)


def test_binary_file(tmp_path: Path, contract: DatasetContract) -> None:
    path = tmp_path / "picture.csv"
    path.write_bytes(PNG_BYTES)
    assert "binary data" in load_error(path, contract)


def test_json_document(tmp_path: Path, contract: DatasetContract) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(json.dumps({"customers": [{"customerID": "7590-VHVEG"}]}, indent=2), encoding="utf-8")
    message = load_error(path, contract)
    assert "found a single column" in message
    assert "separated by ',' or ';'" in message


def test_json_document_whose_lines_have_ragged_commas(tmp_path: Path, contract: DatasetContract) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(json.dumps({"customers": [{"customerID": "1", "tenure": 3}]}, indent=2), encoding="utf-8")
    assert "is not a valid CSV" in load_error(path, contract)


def test_latin1_file(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(telco_frame.head(50).assign(gender="Féminin").to_csv(index=False).encode("latin-1"))
    assert "not UTF-8" in load_error(path, contract)


# --- columns -----------------------------------------------------------------------------------


def test_missing_column(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    path = write_frame(tmp_path / "no_payment.csv", telco_frame.drop(columns=["PaymentMethod"]))
    message = load_error(path, contract)
    assert "missing column(s) 'PaymentMethod'" in message
    assert "did you mean" not in message


@pytest.mark.parametrize("renamed", ["tenur", "Tenure", "tenure_months"])
def test_renamed_column_suggests_the_closest_name(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame, renamed: str) -> None:
    path = write_frame(tmp_path / "renamed.csv", telco_frame.rename(columns={"tenure": renamed}))
    message = load_error(path, contract)
    assert f"'tenure' (did you mean '{renamed}'?)" in message


# --- cell values -------------------------------------------------------------------------------


def test_text_in_a_number_column(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = telco_frame.copy()
    frame.loc[[3, 10], "MonthlyCharges"] = "seventy"
    message = load_error(write_frame(tmp_path / "text.csv", frame), contract)
    assert f"column 'MonthlyCharges': expected numbers; 2 row(s), first: {line(3)}: 'seventy', {line(10)}: 'seventy'" in message


def test_fraction_in_an_integer_column(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = telco_frame.copy()
    frame.loc[7, "tenure"] = "12.5"
    message = load_error(write_frame(tmp_path / "fraction.csv", frame), contract)
    assert f"column 'tenure': expected whole numbers; 1 row(s), first: {line(7)}: '12.5'" in message


def test_unknown_category(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = telco_frame.copy()
    frame.loc[4, "Contract"] = "Three year"
    message = load_error(write_frame(tmp_path / "category.csv", frame), contract)
    assert (f"column 'Contract': unknown category (allowed: Month-to-month, One year, Two year); 1 row(s), first: {line(4)}: 'Three year'") in message


def test_target_with_a_third_value(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = telco_frame.copy()
    frame.loc[[5, 8], "Churn"] = "Maybe"
    message = load_error(write_frame(tmp_path / "maybe.csv", frame), contract)
    assert "column 'Churn': target values must be exactly 'Yes' or 'No'" in message
    assert f"{line(5)}: 'Maybe', {line(8)}: 'Maybe'" in message


def test_blank_target(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = telco_frame.copy()
    frame.loc[9, "Churn"] = ""
    message = load_error(write_frame(tmp_path / "blank_target.csv", frame), contract)
    assert "column 'Churn'" in message
    assert line(9) in message


def test_out_of_range_value(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = telco_frame.copy()
    frame.loc[2, "tenure"] = "-3"
    message = load_error(write_frame(tmp_path / "negative.csv", frame), contract)
    assert f"column 'tenure': value out of range [0.0, 120.0]; 1 row(s), first: {line(2)}: -3" in message


def test_only_the_first_five_offending_lines_are_listed(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = telco_frame.copy()
    bad_rows = list(range(100, 108))
    frame.loc[bad_rows, "gender"] = "Other"
    message = load_error(write_frame(tmp_path / "many.csv", frame), contract)
    assert "8 row(s)" in message
    assert all(line(row) in message for row in bad_rows[:5])
    assert line(bad_rows[5]) not in message
    assert "(and 3 more)" in message


def test_duplicate_customer_id(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = telco_frame.copy()
    frame.loc[6, "customerID"] = frame.loc[1, "customerID"]
    message = load_error(write_frame(tmp_path / "duplicate.csv", frame), contract)
    assert "column 'customerID': duplicate id" in message
    assert f"{line(1)}: '5575-GNVDE', {line(6)}: '5575-GNVDE'" in message


def test_too_few_rows_of_a_class(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame) -> None:
    frame = pd.concat([telco_frame[telco_frame["Churn"] == "No"], telco_frame[telco_frame["Churn"] == "Yes"].head(5)])
    message = load_error(write_frame(tmp_path / "few_yes.csv", frame), contract)
    assert "too few rows of a class in 'Churn' ('Yes': 5)" in message
    assert "at least 20" in message


# --- the CLI prints the same messages without a traceback ---------------------------------------


def _rename_tenure(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"tenure": "Tenure"})


def _three_year(frame: pd.DataFrame) -> pd.DataFrame:
    changed = frame.copy()
    changed.loc[4, "Contract"] = "Three year"
    return changed


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_rename_tenure, "'tenure' (did you mean 'Tenure'?)"),
        (_three_year, f"column 'Contract': unknown category (allowed: Month-to-month, One year, Two year); 1 row(s), first: {line(4)}: 'Three year'"),
    ],
    ids=["renamed-column", "unknown-category"],
)
def test_cli_validate_reports_bad_file_without_traceback(
    workdir: Path, telco_frame: pd.DataFrame, change: Callable[[pd.DataFrame], pd.DataFrame], expected: str
) -> None:
    bad = write_frame(workdir / "bad.csv", change(telco_frame))
    result = CliRunner().invoke(app, ["validate", "--data", str(bad), "--dataset", str(CONTRACT_PATH)])
    assert result.exit_code != 0
    assert str(bad) in result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_cli_validate_reports_missing_file_without_traceback(workdir: Path) -> None:
    missing = workdir / "nowhere.csv"
    result = CliRunner().invoke(app, ["validate", "--data", str(missing), "--dataset", str(CONTRACT_PATH)])
    assert result.exit_code == 1
    assert f"Data file '{missing}' does not exist" in result.output
    assert "Traceback" not in result.output


def test_cli_validate_accepts_the_real_file(workdir: Path, telco_csv: Path, telco: Dataset) -> None:
    result = CliRunner().invoke(app, ["validate", "--data", str(telco_csv), "--dataset", str(CONTRACT_PATH)])
    assert result.exit_code == 0, result.output
    assert f"OK: 7043 rows, positive rate 0.265, fingerprint {telco.fingerprint[:12]}" in result.output


# --- export variants load to the same data -----------------------------------------------------


def test_utf8_byte_order_mark_is_ignored(tmp_path: Path, contract: DatasetContract, telco_csv: Path, telco: Dataset) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + telco_csv.read_bytes())
    assert load_dataset(path, contract).fingerprint == telco.fingerprint


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_other_delimiters_give_the_same_data(
    tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame, telco: Dataset, delimiter: str
) -> None:
    path = write_frame(tmp_path / "other.csv", telco_frame, sep=delimiter)
    assert load_dataset(path, contract).fingerprint == telco.fingerprint


def test_rewritten_copy_gives_the_same_fingerprint(tmp_path: Path, contract: DatasetContract, telco_frame: pd.DataFrame, telco: Dataset) -> None:
    path = write_frame(tmp_path / "copy.csv", telco_frame, lineterminator="\r\n")
    assert load_dataset(path, contract).fingerprint == telco.fingerprint


def test_real_file_blank_total_charges_become_missing(telco: Dataset, telco_frame: pd.DataFrame) -> None:
    blank_in_file = telco_frame["TotalCharges"].str.strip() == ""
    assert blank_in_file.sum() == 11
    missing = telco.features["TotalCharges"].isna().to_numpy()
    assert missing.sum() == 11
    np.testing.assert_array_equal(missing, blank_in_file.to_numpy())
    assert telco.features["TotalCharges"].dtype == np.float64


def test_real_file_senior_citizen_flag_is_mapped_to_no_yes(telco: Dataset, telco_frame: pd.DataFrame) -> None:
    assert set(telco_frame["SeniorCitizen"]) == {"0", "1"}
    assert set(telco.features["SeniorCitizen"]) == {"No", "Yes"}
    expected = telco_frame["SeniorCitizen"].map({"0": "No", "1": "Yes"}).to_numpy()
    np.testing.assert_array_equal(telco.features["SeniorCitizen"].to_numpy(), expected)


def test_real_file_target_is_one_for_yes_and_zero_for_no(telco: Dataset, telco_frame: pd.DataFrame) -> None:
    np.testing.assert_array_equal(telco.target.to_numpy(), (telco_frame["Churn"] == "Yes").astype(int).to_numpy())
    assert telco.target.sum() == 1869
    assert telco.n_rows == 7043


def test_real_file_model_frame_has_contract_columns_and_dtypes(telco: Dataset, contract: DatasetContract) -> None:
    assert list(telco.features.columns) == contract.feature_columns
    assert telco.features["tenure"].dtype == np.int64
    assert telco.features["MonthlyCharges"].dtype == np.float64
    assert telco.features["Contract"].dtype == object
    assert telco.ids is not None
    assert telco.ids.is_unique
