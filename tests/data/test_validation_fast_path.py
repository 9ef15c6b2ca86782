"""The column-wise contract check that lets a clean file skip pandera must never pass what pandera fails:
for the real file and for each kind of breach, its verdict equals the schema's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from churnops.data.contract import DatasetContract
from churnops.data.loading import _apply_encodings, _convert_numbers, _keeps_contract, _schema, _text_frame

Breach = Callable[[pd.DataFrame], None]


def _set(column: str, value: object, row: int = 3) -> Breach:
    def breach(frame: pd.DataFrame) -> None:
        frame.iloc[row, frame.columns.get_loc(column)] = value

    return breach


def _duplicate_id(frame: pd.DataFrame) -> None:
    frame.iloc[5, frame.columns.get_loc("customerID")] = frame["customerID"].iloc[4]


# Each breach, and whether pandera passes the file with it.
BREACHES: dict[str, tuple[Breach | None, bool]] = {
    "the real file": (None, True),
    "unknown category": (_set("Contract", "Weekly"), False),
    "blank category": (_set("gender", None), False),
    "category of another case": (_set("Partner", "yes"), False),
    "tenure below its minimum": (_set("tenure", "-1"), False),
    "tenure above its maximum": (_set("tenure", "121"), False),
    "blank tenure": (_set("tenure", None), False),
    "third target value": (_set("Churn", "Maybe"), False),
    "blank target": (_set("Churn", None), False),
    "blank id": (_set("customerID", None), False),
    "duplicate id": (_duplicate_id, False),
    "blank in a nullable column": (_set("TotalCharges", None), True),
}


def _numbers(telco_frame: pd.DataFrame, contract: DatasetContract, breach: Breach | None = None) -> pd.DataFrame:
    """The real file as `_validate` holds it when the check runs: text cells decoded, numbers converted."""
    rows = _text_frame(telco_frame.to_csv(index=False), Path("telco.csv"))
    if breach is not None:
        breach(rows)
    numbers, type_errors = _convert_numbers(_apply_encodings(rows, contract)[contract.required_columns], contract)
    assert not type_errors.lines
    return numbers


def _pandera_passes(frame: pd.DataFrame, contract: DatasetContract) -> bool:
    try:
        _schema(contract, with_target=True, with_id=True).validate(frame, lazy=True)
    except SchemaErrors:
        return False
    return True


@pytest.mark.parametrize("case", list(BREACHES))
def test_fast_verdict_equals_pandera(case: str, telco_frame: pd.DataFrame, contract: DatasetContract) -> None:
    breach, pandera_passes = BREACHES[case]
    numbers = _numbers(telco_frame, contract, breach)
    assert _pandera_passes(numbers, contract) is pandera_passes, "the breach is one pandera sees"
    assert _keeps_contract(numbers, contract, contract.required_columns) is pandera_passes


def test_a_column_that_is_not_float_is_left_to_pandera(telco_frame: pd.DataFrame, contract: DatasetContract) -> None:
    numbers = _numbers(telco_frame, contract)
    numbers["tenure"] = numbers["tenure"].astype(np.int64)
    assert not _keeps_contract(numbers, contract, contract.required_columns)
