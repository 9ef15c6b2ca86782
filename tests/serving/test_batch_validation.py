"""The columnar batch validator agrees with the customer model: when it vouches for a batch, its records
are exactly what pydantic gives customer by customer; when a customer is not plain, it leaves the batch to pydantic."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from churnops.data.contract import DatasetContract, load_contract
from churnops.serving.batch_validation import BatchValidator
from churnops.serving.schemas import customer_model
from tests.support.paths import CONTRACT_PATH
from tests.support.traffic import valid_customers

CONTRACT = load_contract(CONTRACT_PATH)
MODEL = customer_model(CONTRACT)
VALIDATOR = BatchValidator(CONTRACT)

# Values a client might send in place of a good one: codes, numeric strings, wrong types, edges of ranges.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=200_000),
    st.sampled_from(["", "0", "1", "Yes", "No", "DSL", "5", "12.5", "yes", "Fiber optic", "a\nb", "x" * 201]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)


@pytest.fixture(scope="module")
def customers(telco_csv: Path) -> list[dict[str, Any]]:
    return valid_customers(telco_csv, CONTRACT, 300)


def one_by_one(model: type[BaseModel], batch: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    try:
        return [model.model_validate(customer).model_dump() for customer in batch]
    except ValidationError:
        return None


def test_a_batch_of_valid_customers_is_vouched_for_and_equals_pydantic_field_for_field(customers: list[dict[str, Any]]) -> None:
    expected = one_by_one(MODEL, customers)
    records = VALIDATOR.validate(copy.deepcopy(customers))
    assert records is not None
    assert records == expected
    assert all(type(record["MonthlyCharges"]) is float for record in records)  # a JSON 70 is 70.0, as pydantic makes it


def test_missing_optional_fields_are_filled_as_pydantic_fills_them(customers: list[dict[str, Any]]) -> None:
    batch = [{key: value for key, value in customer.items() if key not in {"TotalCharges", "customerID"}} for customer in customers[:20]]
    records = VALIDATOR.validate(batch)
    assert records is not None
    assert records == one_by_one(MODEL, batch)
    assert {record["TotalCharges"] for record in records} == {None}


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    row=st.integers(0, 299),
    column=st.sampled_from([*CONTRACT.columns, "customerID", "unknown column"]),
    value=ODD_VALUES,
    drop=st.booleans(),
)
def test_a_mutated_customer_is_never_vouched_for_wrongly(customers: list[dict[str, Any]], row: int, column: str, value: Any, drop: bool) -> None:
    batch = copy.deepcopy(customers[:10])
    target = batch[row % len(batch)]
    if drop:
        target.pop(column, None)
    else:
        target[column] = value
    expected = one_by_one(MODEL, batch)
    records = VALIDATOR.validate(copy.deepcopy(batch))
    if records is not None:  # vouched: exactly pydantic's answer, so pydantic accepts the batch
        assert records == expected
    elif expected is not None:  # left to pydantic: only for something the fast path does not produce itself
        assert _needs_conversion(target, column, value, drop)


def _needs_conversion(customer: dict[str, Any], column: str, value: Any, drop: bool) -> bool:
    """What pydantic accepts but converts (a code, a numeric string, a whole float for an integer): the fast path's honest 'no'."""
    if drop or column not in CONTRACT.columns:
        return False
    spec = CONTRACT.columns[column]
    if spec.type == "categorical":
        return bool(spec.encoding) and isinstance(value, int | str)  # a raw file code, decoded by the model
    return isinstance(value, str | float)  # "5" for 5, or 5.0 for an integer


def test_another_contract_is_validated_by_its_own_columns(tmp_path: Path) -> None:
    contract: DatasetContract = CONTRACT.model_copy(deep=True)
    del contract.columns["gender"]
    validator = BatchValidator(contract)
    batch = [{key: value for key, value in CONTRACT.example_record().items() if key != "gender"}]
    assert validator.validate(batch) == one_by_one(customer_model(contract), batch)
    assert validator.validate([CONTRACT.example_record()]) is None  # gender is now an extra field
