"""Data sets whose column names are not Python identifiers and whose contracts use plain YAML scalars.

The contract reads `positive: 1` and `values: [0, 1]` as the labels "1"/"0" and refuses unquoted YAML
booleans; the API's request model takes and returns the real column names; monitoring's MLflow metric
names are ones MLflow accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.utils.validation import _validate_metric_name
from pydantic import ValidationError

from churnops.data.contract import DatasetContract, load_contract
from churnops.errors import ConfigError
from churnops.features import build_preprocessor
from churnops.monitoring.run import metric_keys
from churnops.serving.invocations import parse_payload
from churnops.serving.schemas import customer_model
from tests.support.datasets import GYM, SUBSCRIPTION, write


@pytest.fixture(scope="module")
def subscription(tmp_path_factory: pytest.TempPathFactory) -> DatasetContract:
    return load_contract(write(SUBSCRIPTION, tmp_path_factory.mktemp("subscription"), rows=200)[1])


@pytest.fixture(scope="module")
def gym(tmp_path_factory: pytest.TempPathFactory) -> DatasetContract:
    return load_contract(write(GYM, tmp_path_factory.mktemp("gym"), rows=200)[1])


def _contract(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the contract ------------------------------------------------------------------------------


def test_unquoted_numbers_are_labels(subscription: DatasetContract) -> None:
    assert (subscription.target.positive, subscription.target.negative) == ("1", "0")
    assert subscription.columns["2fa.enabled"].values == ["0", "1"]


@pytest.mark.parametrize(
    ("before", "after", "where", "word"),
    [
        ("positive: 1", "positive: Yes", "target.positive", "Yes"),
        ("negative: 0", "negative: off", "target.negative", "off"),
        ("values: [0, 1]", "values: [No, 'Yes']", "columns.'2fa.enabled'.values.0", "No"),
    ],
)
def test_unquoted_yaml_booleans_are_refused_with_the_word_to_quote(tmp_path: Path, before: str, after: str, where: str, word: str) -> None:
    path = _contract(tmp_path, SUBSCRIPTION.contract.replace(before, after))
    with pytest.raises(ConfigError) as caught:
        load_contract(path)
    message = str(caught.value)
    assert where in message and f'"{word}"' in message and "quotes" in message, message


def test_booleans_still_work_where_a_boolean_is_meant(tmp_path: Path) -> None:
    contract = load_contract(_contract(tmp_path, GYM.contract.replace("nullable: true", "nullable: yes")))
    assert contract.columns["avg session (min)"].nullable is True


def test_a_plain_boolean_label_is_refused_too() -> None:
    raw = {"name": "x", "target": {"column": "t", "positive": True, "negative": False}, "columns": {"a": {"type": "number"}}}
    with pytest.raises(ValidationError, match="YAML boolean"):
        DatasetContract.model_validate(raw)


def test_unquoted_number_column_names_and_categorical_examples_are_text(tmp_path: Path) -> None:
    column = "  2024:\n    type: categorical\n    values: [1, 2, 3]\n    example: 2\n"
    text = SUBSCRIPTION.contract.replace("engineered_features:", column + "engineered_features:")
    contract = load_contract(_contract(tmp_path, text))
    assert contract.columns["2024"].values == ["1", "2", "3"]
    assert contract.columns["2024"].example_value() == "2"


# --- the API's request model -------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [SUBSCRIPTION, GYM], ids=lambda dataset: dataset.name)
def test_request_model_takes_and_dumps_the_real_column_names(dataset, subscription: DatasetContract, gym: DatasetContract) -> None:
    customer = customer_model(subscription if dataset is SUBSCRIPTION else gym)
    dumped = customer.model_validate(dataset.customer).model_dump()
    assert dumped == dataset.customer
    schema = customer.model_json_schema()
    assert set(schema["properties"]) == set(dataset.customer)
    assert set(schema["required"]) == {name for name in dataset.customer if name != dataset.id_column and dataset.customer[name] is not None}
    assert customer.model_validate(schema["examples"][0]).model_dump().keys() == dataset.customer.keys()


def test_errors_name_the_real_column_and_internal_names_are_not_accepted(subscription: DatasetContract) -> None:
    customer = customer_model(subscription)
    with pytest.raises(ValidationError) as caught:
        customer.model_validate({**SUBSCRIPTION.customer, "sessions/week": -1})
    assert [issue["loc"] for issue in caught.value.errors()] == [("sessions/week",)]
    internal = {name for name, field in customer.model_fields.items() if field.alias != name}
    assert internal, "non-identifier columns get an internal field name"
    renamed = {next(name for name, field in customer.model_fields.items() if field.alias == "plan-tier"): "pro"}
    with pytest.raises(ValidationError) as caught:
        customer.model_validate({key: value for key, value in SUBSCRIPTION.customer.items() if key != "plan-tier"} | renamed)
    assert {issue["type"] for issue in caught.value.errors()} == {"missing", "extra_forbidden"}


def test_numbers_are_accepted_for_numeric_categories_but_booleans_are_not(subscription: DatasetContract) -> None:
    customer = customer_model(subscription)
    assert customer.model_validate({**SUBSCRIPTION.customer, "2fa.enabled": 1}).model_dump()["2fa.enabled"] == "1"
    with pytest.raises(ValidationError):
        customer.model_validate({**SUBSCRIPTION.customer, "2fa.enabled": True})
    with pytest.raises(ValidationError):
        customer.model_validate({**SUBSCRIPTION.customer, "2fa.enabled": 2})


def test_columns_named_like_python_keywords_or_model_attributes_work(tmp_path: Path) -> None:
    text = """\
name: awkward
target: {column: t, positive: "y", negative: "n"}
columns:
  class: {type: number}
  copy: {type: number}
  model_config: {type: number}
  _private: {type: number}
  a b: {type: number}
  a_b: {type: number}
"""
    customer = customer_model(load_contract(_contract(tmp_path, text)))
    record = {"class": 1.0, "copy": 2.0, "model_config": 3.0, "_private": 4.0, "a b": 5.0, "a_b": 6.0}
    assert customer.model_validate(record).model_dump() == record


def test_invocations_payloads_use_the_column_names(subscription: DatasetContract) -> None:
    customer = customer_model(subscription)
    body = (",".join(SUBSCRIPTION.customer) + "\n" + ",".join(str(value) for value in SUBSCRIPTION.customer.values())).encode()
    [record] = parse_payload(body, "text/csv", customer, max_rows=10)
    assert record == SUBSCRIPTION.customer


# --- features and monitoring -------------------------------------------------------------------


def test_engineered_feature_names_sklearn_would_refuse_are_made_usable(tmp_path: Path) -> None:
    text = SUBSCRIPTION.contract.replace("- name: spend per session", "- name: numeric") + (
        "  - name: spend__per__session\n    kind: ratio\n    columns: [monthly spend ($), sessions/week]\n"
    )
    preprocessor = build_preprocessor(load_contract(_contract(tmp_path, text)))
    assert [name for name, _, _ in preprocessor.transformers] == ["numeric", "categorical", "numeric_2", "spend_per_session"]


def test_monitoring_metric_names_are_ones_mlflow_accepts() -> None:
    columns = [*SUBSCRIPTION.customer, *GYM.customer, "a b", "a_b", "a/b", "..", "x" * 300, "données (€)"]
    keys = metric_keys(columns)
    assert len(set(keys.values())) == len(columns), "distinct columns keep distinct metric names"
    assert keys["sessions/week"] == "sessions_week" and keys["a b"] == "a b" and keys["données (€)"] == "données ___"
    for key in keys.values():
        for prefix in ("drift/score/", "drift/psi/"):
            _validate_metric_name(prefix + key)  # raises MlflowException for a name MLflow refuses
