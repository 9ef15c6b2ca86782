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


BREACHES: dict[str, Breach | None] = {
    "the real file": None,
    "unknown category": _set("Contract", "Weekly"),
    "blank category": _set("gender", None),
    "category of another case": _set("Partner", "yes"),
    "tenure below its minimum": _set("tenure", "-1"),
    "tenure above its maximum": _set("tenure", "121"),
    "blank tenure": _set("tenure", None),
    "third target value": _set("Churn", "Maybe"),
    "blank target": _set("Churn", None),
    "blank id": _set("customerID", None),
    "duplicate id": _duplicate_id,
    "blank in a nullable column": _set("TotalCharges", None),
}


def _pandera_passes(frame: pd.DataFrame, contract: DatasetContract) -> bool:
    try:
        _schema(contract, with_target=True, with_id=True).validate(frame, lazy=True)
    except SchemaErrors:
        return False
    return True


@pytest.mark.parametrize("case", list(BREACHES))
def test_fast_verdict_equals_pandera(case: str, telco_frame: pd.DataFrame, contract: DatasetContract) -> None:
    rows = _text_frame(telco_frame.to_csv(index=False), Path("telco.csv"))
    breach = BREACHES[case]
    if breach is not None:
        breach(rows)
    required = contract.required_columns
    numbers, type_errors = _convert_numbers(_apply_encodings(rows, contract)[required], contract)
    assert not type_errors.lines
    expected = _pandera_passes(numbers, contract)
    assert expected == (breach is None or case == "blank in a nullable column"), "the breach is one pandera sees"
    assert _keeps_contract(numbers, contract, required) is expected


def test_a_column_that_is_not_float_is_left_to_pandera(telco_frame: pd.DataFrame, contract: DatasetContract) -> None:
    rows = _text_frame(telco_frame.to_csv(index=False), Path("telco.csv"))
    numbers, _ = _convert_numbers(_apply_encodings(rows, contract)[contract.required_columns], contract)
    numbers["tenure"] = numbers["tenure"].astype(np.int64)
    assert not _keeps_contract(numbers, contract, contract.required_columns)
