"""The dataset contract: the shipped Telco contract parses as intended;
broken contracts fail with a ConfigError that says what is wrong."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from churnops.data.contract import DatasetContract, load_contract
from churnops.errors import ConfigError
from tests.support.paths import CONTRACT_PATH

TELCO_CATEGORICAL = [
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
]
TELCO_NUMERIC = ["tenure", "MonthlyCharges", "TotalCharges"]


@pytest.fixture()
def shipped() -> dict[str, Any]:
    """The shipped contract as a plain dict, to be broken one way per test."""
    return copy.deepcopy(yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8")))


def write_contract(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_contract(path)
    return str(caught.value)


# --- the shipped contract ----------------------------------------------------------------------


def test_shipped_contract_declares_the_nineteen_telco_feature_columns_in_file_order(contract: DatasetContract) -> None:
    assert contract.name == "telco-customer-churn"
    assert len(contract.feature_columns) == 19
    assert contract.feature_columns[:2] == ["gender", "SeniorCitizen"]
    assert contract.feature_columns[-1] == "TotalCharges"


def test_shipped_contract_splits_categorical_and_numeric_columns(contract: DatasetContract) -> None:
    assert contract.categorical_columns == TELCO_CATEGORICAL
    assert contract.numeric_columns == TELCO_NUMERIC
    assert contract.columns["tenure"].type == "integer"
    assert contract.columns["TotalCharges"].nullable is True
    assert contract.columns["Contract"].values == ["Month-to-month", "One year", "Two year"]


def test_shipped_contract_maps_the_senior_citizen_zero_one_flag(contract: DatasetContract) -> None:
    assert contract.columns["SeniorCitizen"].encoding == {"0": "No", "1": "Yes"}  # codes as text: YAML's 0 and the file's "0" alike
    assert contract.columns["SeniorCitizen"].decode(1) == contract.columns["SeniorCitizen"].decode("1") == "Yes"


def test_shipped_contract_target_and_id_are_not_features(contract: DatasetContract) -> None:
    assert (contract.target.column, contract.target.positive, contract.target.negative) == ("Churn", "Yes", "No")
    assert contract.id_column == "customerID"
    assert "Churn" not in contract.feature_columns
    assert "customerID" not in contract.feature_columns
    assert contract.required_columns == ["customerID", *contract.feature_columns, "Churn"]


def test_shipped_contract_engineered_features(contract: DatasetContract) -> None:
    ratio, count = contract.engineered_features
    assert (ratio.name, ratio.kind, ratio.columns) == ("charges_per_tenure_month", "ratio", ["TotalCharges", "tenure"])
    assert (count.name, count.kind, count.value) == ("subscribed_services", "count_equal", "Yes")
    assert len(count.columns) == 8
    assert set(count.columns) <= set(contract.categorical_columns)


def test_example_record_is_valid_for_every_column(contract: DatasetContract) -> None:
    record = contract.example_record()
    assert list(record) == contract.feature_columns
    for name in contract.categorical_columns:
        assert record[name] in (contract.columns[name].values or [])
    assert record["tenure"] == 12


# --- broken contracts --------------------------------------------------------------------------


def test_unknown_top_level_key_is_rejected_as_extra(tmp_path: Path, shipped: dict[str, Any]) -> None:
    shipped["colour"] = "red"
    message = load_error(write_contract(tmp_path, shipped))
    assert "colour" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_column_key_is_rejected_with_its_location(tmp_path: Path, shipped: dict[str, Any]) -> None:
    shipped["columns"]["tenure"]["units"] = "months"
    message = load_error(write_contract(tmp_path, shipped))
    assert "columns.tenure.units" in message
    assert "Extra inputs are not permitted" in message


def test_categorical_column_without_values_is_rejected(tmp_path: Path, shipped: dict[str, Any]) -> None:
    del shipped["columns"]["gender"]["values"]
    message = load_error(write_contract(tmp_path, shipped))
    assert "columns.gender" in message
    assert "non-empty 'values'" in message


def test_values_on_a_numeric_column_are_rejected(tmp_path: Path, shipped: dict[str, Any]) -> None:
    shipped["columns"]["tenure"]["values"] = ["1", "2"]
    message = load_error(write_contract(tmp_path, shipped))
    assert "columns.tenure" in message
    assert "only allowed for categorical" in message


def test_engineered_feature_using_an_unknown_column_is_rejected(tmp_path: Path, shipped: dict[str, Any]) -> None:
    shipped["engineered_features"][0]["columns"] = ["TotalCharges", "tenure_months"]
    message = load_error(write_contract(tmp_path, shipped))
    assert "charges_per_tenure_month" in message
    assert "unknown column 'tenure_months'" in message


def test_ratio_of_a_categorical_column_is_rejected(tmp_path: Path, shipped: dict[str, Any]) -> None:
    shipped["engineered_features"][0]["columns"] = ["TotalCharges", "Contract"]
    message = load_error(write_contract(tmp_path, shipped))
    assert "'Contract', which is not numeric" in message


def test_target_that_is_also_a_feature_is_rejected(tmp_path: Path, shipped: dict[str, Any]) -> None:
    shipped["columns"]["Churn"] = {"type": "categorical", "values": ["No", "Yes"]}
    message = load_error(write_contract(tmp_path, shipped))
    assert "target column 'Churn' must not also be a feature" in message


def test_missing_contract_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    message = load_error(path)
    assert str(path) in message
    assert "does not exist" in message


def test_text_that_is_not_yaml_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n  columns: {\n", encoding="utf-8")
    message = load_error(path)
    assert str(path) in message
    assert "not valid YAML" in message


def test_yaml_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- name\n- columns\n", encoding="utf-8")
    message = load_error(path)
    assert str(path) in message
    assert "must be a YAML mapping" in message
