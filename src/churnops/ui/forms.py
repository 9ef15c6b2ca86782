"""Input widgets generated from the served contract: one per feature, with the contract's categories and ranges."""

from __future__ import annotations

from typing import Any, TypeVar

import streamlit as st

from churnops.data.contract import ColumnSpec, DatasetContract


def customer_inputs(contract: DatasetContract, defaults: dict[str, Any], key: str, columns: int = 3) -> dict[str, Any]:
    """The form's values as a customer record (column names as keys); `defaults` is a typical training customer."""
    record: dict[str, Any] = {}
    if contract.id_column:
        text = st.text_input(f"{contract.id_column} (optional, stored with the prediction)", value="", key=f"{key}:{contract.id_column}")
        if text.strip():
            record[contract.id_column] = text.strip()
    grid = st.columns(columns)
    for index, (name, spec) in enumerate(contract.columns.items()):
        with grid[index % columns]:
            record[name] = value_input(name, spec, defaults.get(name), f"{key}:{name}")
    return record


def value_input(name: str, spec: ColumnSpec, default: Any, key: str, label: str | None = None) -> Any:
    """One widget for one column: a select box for a category, a number input within the contract's range."""
    label = label or name
    help_text = spec.description or None
    if spec.type == "categorical":
        options = list(spec.values or [])
        chosen = str(spec.decode(default)) if default is not None else None
        return st.selectbox(label, options, index=options.index(chosen) if chosen in options else 0, key=key, help=help_text)
    if spec.type == "integer":
        low, high = _bound(spec.min, int), _bound(spec.max, int)
        start = _clamped(_number(default, int), low, high, spec.nullable)
        return st.number_input(label, min_value=low, max_value=high, value=start, step=1, key=key, help=help_text)
    low_f, high_f = _bound(spec.min, float), _bound(spec.max, float)
    start_f = _clamped(_number(default, float), low_f, high_f, spec.nullable)
    return st.number_input(label, min_value=low_f, max_value=high_f, value=start_f, step=1.0, format="%.2f", key=key, help=help_text)


N = TypeVar("N", int, float)


def _bound(limit: float | None, kind: type[N]) -> N | None:
    return None if limit is None else kind(limit)


def _clamped(value: N | None, low: N | None, high: N | None, nullable: bool) -> N | None:
    """The default within the contract's range; a required number never starts empty."""
    if value is None:
        return None if nullable else low
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def _number(value: Any, kind: type[N]) -> N | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return kind(round(number)) if kind is int else kind(number)
