"""check_customer_file: the front end's upload check lists every bad cell by file line and column and keeps the good rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.data.contract import DatasetContract
from churnops.data.loading import check_customer_file, load_customers
from churnops.errors import DataError


def telco_lines(telco_csv: Path, count: int) -> list[str]:
    return telco_csv.read_text().splitlines()[: count + 1]


def with_cell(line: str, column: int, value: str) -> str:
    fields = line.split(",")
    fields[column] = value
    return ",".join(fields)


def test_the_raw_ibm_file_passes_whole(telco_csv: Path, contract: DatasetContract) -> None:
    checked = check_customer_file(telco_csv.read_bytes(), telco_csv.name, contract)
    assert checked.problems.empty and len(checked.valid) == len(checked.rows) == 7043
    assert checked.rows.index[0] == 2  # line numbers, the header being line 1
    assert list(checked.rows.columns) == contract.input_columns  # the Churn column is not carried along


def test_every_bad_cell_is_named_and_the_other_rows_are_kept(telco_csv: Path, contract: DatasetContract) -> None:
    lines = telco_lines(telco_csv, 50)
    header = lines[0].split(",")
    lines[3] = with_cell(lines[3], header.index("Contract"), "Weekly")
    lines[3] = with_cell(lines[3], header.index("MonthlyCharges"), "cheap")  # two problems on one line
    lines[7] = with_cell(lines[7], header.index("tenure"), "2.5")  # not a whole number
    lines[9] = with_cell(lines[9], header.index("tenure"), "900")  # beyond the contract's range
    lines[12] = with_cell(lines[12], header.index("gender"), "")  # required, blank
    checked = check_customer_file("\n".join(lines).encode(), "upload.csv", contract)

    found = checked.problems[["line", "column", "value"]].values.tolist()
    assert found == [[4, "Contract", "Weekly"], [4, "MonthlyCharges", "cheap"], [8, "tenure", "2.5"], [10, "tenure", "900"], [13, "gender", None]]
    problems = checked.problems["problem"].tolist()
    assert problems[0].startswith("unknown category (allowed: Month-to-month") and problems[1] == "expected numbers"
    assert problems[2] == "expected whole numbers" and problems[3].startswith("value out of range")
    assert problems[4] == "missing value where the contract requires one"
    assert len(checked.valid) == 46 and not set(checked.valid.index) & {4, 8, 10, 13}


def test_a_file_without_a_feature_column_cannot_be_scored(telco_csv: Path, contract: DatasetContract) -> None:
    lines = [",".join(field for index, field in enumerate(line.split(",")) if index != 5) for line in telco_lines(telco_csv, 5)]
    with pytest.raises(DataError, match="missing column.*'tenure'"):
        check_customer_file("\n".join(lines).encode(), "upload.csv", contract)


def test_an_unreadable_upload_is_a_data_error(contract: DatasetContract) -> None:
    with pytest.raises(DataError, match="not UTF-8"):
        check_customer_file(b"customerID,gender\n\xff\xfe\n", "upload.csv", contract)


def test_the_id_column_is_optional(telco_csv: Path, contract: DatasetContract, tmp_path: Path) -> None:
    lines = [line.split(",", 1)[1] for line in telco_lines(telco_csv, 5)]
    checked = check_customer_file("\n".join(lines).encode(), "no-ids.csv", contract)
    assert checked.problems.empty and list(checked.rows.columns) == contract.feature_columns
    (tmp_path / "with-ids.csv").write_text("\n".join(telco_lines(telco_csv, 5)))
    assert len(load_customers(tmp_path / "with-ids.csv", contract).features) == len(checked.valid)


def test_line_numbers_count_blank_lines_and_ids_are_checked(telco_csv: Path, contract: DatasetContract) -> None:
    lines = telco_lines(telco_csv, 6)
    lines[2] = with_cell(lines[2], 0, "x" * 201)
    lines[4] = with_cell(lines[4], lines[0].split(",").index("SeniorCitizen"), "2")  # a raw code the contract does not know
    checked = check_customer_file("\n".join([*lines[:4], "", *lines[4:]]).encode(), "gaps.csv", contract)  # line 5 is blank
    assert checked.problems[["line", "column"]].values.tolist() == [[3, "customerID"], [6, "SeniorCitizen"]]
    assert checked.problems["problem"].iloc[0] == "an id is at most 200 printable characters"
    assert list(checked.valid.index) == [2, 4, 7, 8]
