"""Request models generated from the contract, MLflow payload parsing, strict JSON and bounded errors, settings handed to child processes."""

from __future__ import annotations

import json
import math
import re

import pytest
from pydantic import BaseModel, ValidationError

from churnops.data.contract import DatasetContract
from churnops.serving.guards import MAX_REPORTED_ERRORS, public_errors, strict_loads, trusted_hosts
from churnops.serving.invocations import InvocationsInputError, UnsupportedContentType, parse_payload
from churnops.serving.schemas import customer_model
from churnops.settings import Settings
from tests.support.paths import ROOT


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
    assert rebuilt.model_dump(exclude={"api": {"key"}}) == original.model_dump(exclude={"api": {"key"}})
    assert rebuilt.api.key is not None and rebuilt.api.key.get_secret_value() == "s3cret"


# -- hostile input: strict JSON, strict numbers, bounded error answers, host and origin settings --


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": NaN}', "unexpected character"),
        (b'{"a": Infinity}', "unexpected character"),
        (b'{"a": -Infinity}', "no digit after sign"),
        (b'{"a": 1e309}', "infinity"),
        (b'{"a": -1e309}', "infinity"),
        (b'{"a": "\\ud800"}', "surrogate"),  # a lone high surrogate, escaped
        (b'{"a": "\\udc00x"}', "surrogate"),  # a lone low surrogate
        (b'{"a": "\xed\xa0\x80"}', "UTF-8"),  # an encoded surrogate (CESU-8)
        (b'{"a": "\xff"}', "UTF-8"),
        (b'\xef\xbb\xbf{"a": 1}', "byte order mark"),
        (b"[" * 33 + b"]" * 33, "deeper than 32"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "deeper than 32"),
        (b"[" * 100_000 + b"]" * 100_000, "depth limit"),
        (b'{"a": 1} trailing', "after document"),
        (b"", "empty"),
    ],
)
def test_strict_json_refuses_what_python_json_lets_through(body: bytes, reason: str) -> None:
    with pytest.raises(json.JSONDecodeError) as raised:
        strict_loads(body)
    assert reason.lower() in raised.value.msg.lower()


def test_strict_json_accepts_ordinary_json_and_the_last_duplicate_key_wins() -> None:
    assert strict_loads(b"[" * 32 + b"]" * 32) is not None
    assert strict_loads('{"name": "Zo\\u00eb \\ud83d\\ude00", "n": 1.7976931348623157e308, "big": 123456789012345678901234567890}') == {
        "name": "Zoë 😀",
        "n": 1.7976931348623157e308,
        "big": 1.2345678901234568e29,
    }
    assert strict_loads(b'{"tenure": 1, "tenure": 60}') == {"tenure": 60}
    with pytest.raises(json.JSONDecodeError):
        strict_loads("\ud800")  # a Python str holding a lone surrogate (a WebSocket text frame cannot, but a caller could)


@pytest.mark.parametrize(("field", "value"), [("tenure", True), ("tenure", False), ("MonthlyCharges", True), ("TotalCharges", False)])
def test_booleans_are_not_numbers(customer: type[BaseModel], example: dict[str, object], field: str, value: bool) -> None:
    with pytest.raises(ValidationError) as raised:
        customer.model_validate({**example, field: value})
    error = raised.value.errors()[0]
    assert error["loc"] == (field,) and "got the boolean" in error["msg"]


def test_numbers_and_numeric_strings_are_still_numbers(customer: type[BaseModel], example: dict[str, object]) -> None:
    parsed = customer.model_validate({**example, "tenure": "12", "MonthlyCharges": "70.5", "TotalCharges": 100})
    assert (parsed.tenure, parsed.MonthlyCharges, parsed.TotalCharges) == (12, 70.5, 100.0)  # type: ignore[attr-defined]
    assert customer.model_validate({**example, "TotalCharges": None}).TotalCharges is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak", "tab\there", "\x7f"])
def test_customer_ids_are_printable(customer: type[BaseModel], example: dict[str, object], value: str) -> None:
    with pytest.raises(ValidationError, match="control character"):
        customer.model_validate({**example, "customerID": value})
    assert customer.model_validate({**example, "customerID": "Zoë-😀 #7"}).customerID == "Zoë-😀 #7"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("payload", "content_type", "message"),
    [
        (b'{"dataframe_split": {"columns": [["tenure"]], "data": [[1]]}}', "application/json", "column names (strings)"),
        (b'{"dataframe_split": {"columns": [{}], "data": [[1]]}}', "application/json", "column names (strings)"),
        (b'{"dataframe_records": [{"tenure": NaN}]}', "application/json", "not valid JSON"),
        (b'{"dataframe_records": [{"tenure": 1e309}]}', "application/json", "not valid JSON"),
        (b'{"dataframe_records": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json", "not valid JSON"),
        (b'{"inputs": [{"customerID": "\\udc00"}]}', "application/json", "not valid JSON"),
        (b"gender,tenure\n\xff\xfe,1\n", "text/csv", "not a readable UTF-8 CSV"),
        (b"", "text/csv", "not a readable UTF-8 CSV"),
    ],
)
def test_hostile_payloads_are_explained(customer: type[BaseModel], payload: bytes, content_type: str, message: str) -> None:
    with pytest.raises(InvocationsInputError, match=re.escape(message)) as raised:
        parse_payload(payload, content_type, customer, 10)
    assert raised.value.status_code == 400


def test_invocations_read_only_json_and_csv(customer: type[BaseModel], example: dict[str, object]) -> None:
    body = json.dumps({"inputs": [example]}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        with pytest.raises(UnsupportedContentType, match="application/json .* or text/csv") as raised:
            parse_payload(body, content_type, customer, 10)
        assert raised.value.status_code == 415
    for content_type in (None, "application/json", "application/json; charset=utf-8", "application/vnd.api+json"):
        assert len(parse_payload(body, content_type, customer, 10)) == 1


def test_error_answers_are_bounded_and_always_serialisable() -> None:
    errors = [
        {"type": "missing", "loc": ("body", "customers", index, "gender"), "msg": "Field required", "input": {"huge": "x" * 10_000}}
        for index in range(500)
    ]
    errors[0] = {"type": "too_long", "loc": ("body", "k" * 5000), "msg": "too long", "input": "x" * 1_000_000}
    errors[1] = {
        "type": "finite_number",
        "loc": ("body", "MonthlyCharges"),
        "msg": "not finite",
        "input": math.inf,
        "ctx": {"error": ValueError("no")},
    }
    errors[2] = {"type": "string_type", "loc": ("body", "customerID"), "msg": "bad \ud800", "input": "lone \udc00"}
    errors[3] = {"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be a valid dictionary", "input": b"\xff" * 100}
    body = public_errors(errors)
    text = json.dumps(body, ensure_ascii=False, allow_nan=False)  # what JSONResponse does: must not raise
    text.encode("utf-8")
    assert len(body["detail"]) == MAX_REPORTED_ERRORS
    assert body["more"].startswith(f"and {500 - MAX_REPORTED_ERRORS} more errors")
    assert len(text) < 12_000
    first, infinite, surrogate, raw = body["detail"][:4]
    assert first["input"].endswith("(1000000 characters)") and len(first["loc"][1]) < 120
    assert infinite["input"] == "inf" and infinite["ctx"] == {"error": "no"}
    assert "\ud800" not in surrogate["msg"] and "\udc00" not in surrogate["input"]
    assert "input" not in raw and "Content-Type: application/json" in raw["msg"]
    assert all("input" not in entry for entry in body["detail"][4:]), "containers (the whole customer) are never echoed"
    assert "more" not in public_errors(errors[:3])


def test_host_and_origin_settings() -> None:
    assert trusted_hosts(Settings().api) == ["127.0.0.1", "localhost", "[::1]"]
    assert trusted_hosts(Settings(api_host="localhost").api) == ["127.0.0.1", "localhost", "[::1]"]
    assert trusted_hosts(Settings(api_host="0.0.0.0").api) == ["*"]  # noqa: S104 - bound everywhere, as in a container
    assert trusted_hosts(Settings(api_host="0.0.0.0", allowed_hosts="api.example.com, *.example.org,::1").api) == [  # type: ignore[arg-type]  # noqa: S104
        "api.example.com",
        "*.example.org",
        "[::1]",
    ]
    assert Settings(allowed_origins='["https://app.example.com"]').api.allowed_origins == ["https://app.example.com"]  # type: ignore[arg-type]
    assert Settings().api.allowed_origins == []
    for bad in ("api.*.example.com", "*example.com"):
        with pytest.raises(ValidationError, match="not a host pattern"):
            Settings(allowed_hosts=[bad])
    with pytest.raises(ValidationError):
        Settings(max_body_bytes=10)
