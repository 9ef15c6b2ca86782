"""Request models generated from the contract, MLflow payload parsing, settings handed to child processes."""

from __future__ import annotations

import json
import math
import re

import pytest
from pydantic import BaseModel, ValidationError

from churnops.data.contract import DatasetContract
from churnops.serving.invocations import InvocationsInputError, parse_payload
from churnops.serving.schemas import customer_model
from churnops.settings import Settings
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def customer(contract: DatasetContract) -> type[BaseModel]:
    return customer_model(contract)


@pytest.fixture(scope="module")
def example(customer: type[BaseModel]) -> dict[str, object]:
    return dict(customer.model_json_schema()["examples"][0])


def test_schema_follows_the_contract(customer: type[BaseModel], contract: DatasetContract) -> None:
    schema = customer.model_json_schema()
    properties = schema["properties"]
    assert set(schema["required"]) == {name for name, spec in contract.columns.items() if not spec.nullable}
    for name, spec in contract.columns.items():
        assert properties[name]["description"], name
        assert properties[name]["examples"], name
        if spec.type == "categorical":
            assert properties[name]["enum"] == spec.values
        else:
            number = properties[name]["anyOf"][0] if spec.nullable else properties[name]
            assert number.get("minimum") == spec.min and number.get("maximum") == spec.max
    assert schema["additionalProperties"] is False


def test_contract_example_is_valid(customer: type[BaseModel], example: dict[str, object]) -> None:
    customer.model_validate(example)


def test_raw_file_codes_are_accepted_like_the_training_loader(customer: type[BaseModel], example: dict[str, object]) -> None:
    assert customer.model_validate({**example, "SeniorCitizen": 1}).SeniorCitizen == "Yes"  # type: ignore[attr-defined]
    assert customer.model_validate({**example, "SeniorCitizen": "0"}).SeniorCitizen == "No"  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        customer.model_validate({**example, "SeniorCitizen": 2})


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"Contract": "Weekly"}, "Contract", "'Month-to-month', 'One year' or 'Two year'"),
        ({"tenure": 121}, "tenure", "less than or equal to 120"),
        ({"MonthlyCharges": math.inf}, "MonthlyCharges", "finite number"),
        ({"MonthlyCharges": math.nan}, "MonthlyCharges", "finite number"),
        ({"tenure": 1.5}, "tenure", "valid integer"),
        ({"Tenure": 5}, "Tenure", "Extra inputs are not permitted"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(
    customer: type[BaseModel], example: dict[str, object], change: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        customer.model_validate({**example, **change})
    errors = {error["loc"][0]: error["msg"] for error in raised.value.errors()}
    assert message in errors[field]


def test_the_readme_curl_example_is_a_valid_customer(customer: type[BaseModel]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    body = re.search(r"/predict -H 'Content-Type: application/json' -d '(\{.*?\})'", readme, re.DOTALL)
    assert body, "README has no /predict curl example"
    customer.model_validate(json.loads(body.group(1)))


def test_every_mlflow_payload_format_gives_the_same_records(customer: type[BaseModel], example: dict[str, object]) -> None:
    rows = [example, {**example, "tenure": 30}]
    columns = list(example)
    payloads = [
        {"dataframe_split": {"columns": columns, "data": [[row[column] for column in columns] for row in rows]}},
        {"dataframe_records": rows},
        {"inputs": rows},
        {"instances": rows},
        {"inputs": {column: [row[column] for row in rows] for column in columns}, "params": {}},
    ]
    parsed = [parse_payload(json.dumps(payload).encode(), "application/json", customer, 10) for payload in payloads]
    assert all(records == parsed[0] for records in parsed)
    assert [record["tenure"] for record in parsed[0]] == [example["tenure"], 30]
    csv = ",".join(columns) + "\n" + "\n".join(",".join(str(row[column]) for column in columns) for row in rows)
    assert parse_payload(csv.encode(), "text/csv; charset=utf-8", customer, 10) == parsed[0]


def test_unknown_columns_are_ignored_as_mlflow_does(customer: type[BaseModel], example: dict[str, object]) -> None:
    records = parse_payload(json.dumps({"dataframe_records": [{**example, "Churn": "Yes"}]}).encode(), "application/json", customer, 10)
    assert "Churn" not in records[0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[1, 2]", "Expected a JSON object"),
        (b'{"dataframe_records": [], "inputs": []}', "Expected exactly one of"),
        (b'{"dataframe_records": []}', "holds no rows"),
        (b'{"dataframe_records": {"a": 1}}', "must be a list of row objects"),
        (b'{"dataframe_records": [1]}', "Row 0 is not an object"),
        (b'{"inputs": {"a": [1, 2], "b": [1]}}', "same length"),
        (b'{"dataframe_split": {"data": []}}', "'columns'"),
    ],
)
def test_bad_payloads_are_explained(customer: type[BaseModel], payload: bytes, message: str) -> None:
    with pytest.raises(InvocationsInputError, match=re.escape(message)):
        parse_payload(payload, "application/json", customer, 10)


def test_row_limit(customer: type[BaseModel], example: dict[str, object]) -> None:
    with pytest.raises(InvocationsInputError, match="holds 3 rows; at most 2"):
        parse_payload(json.dumps({"dataframe_records": [example] * 3}).encode(), "application/json", customer, 2)


def test_settings_survive_the_trip_to_a_child_process(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    original = Settings(families=["logistic_regression"], api_key="s3cret", search_trials=7, store_url="sqlite:///x.db", data="a.csv")
    for key, value in original.as_environment().items():
        monkeypatch.setenv(key, value)
    rebuilt = Settings()
    assert rebuilt.model_dump(exclude={"api_key"}) == original.model_dump(exclude={"api_key"})
    assert rebuilt.api_key is not None and rebuilt.api_key.get_secret_value() == "s3cret"
