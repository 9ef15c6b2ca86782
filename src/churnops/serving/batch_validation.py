"""Columnar validation of a batch of customers: one check per column instead of one pydantic call per customer.

It only vouches for a batch whose every value is already what the customer model (schemas.customer_model)
would return: a listed category, a whole number in range, a finite number in range, a printable id. For
such a batch the records equal `customer_model.model_validate(customer).model_dump()` field for field
(the keys in the order the client sent them). Anything else (a raw code to decode, a numeric string, a missing or extra field, a value
out of range) gives None, and the caller validates customer by customer, which words the exact 422.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from churnops.data.contract import ColumnSpec, DatasetContract
from churnops.serving.schemas import CONTROL_CHARACTER

MAX_ID_LENGTH = 200  # as the customer model's id field


@dataclass(frozen=True)
class _Column:
    name: str
    required: bool
    accepts: Callable[[Sequence[Any]], bool]  # the whole column at once
    as_float: bool = False  # pydantic returns 5.0 for a JSON 5 in a number field


class BatchValidator:
    def __init__(self, contract: DatasetContract) -> None:
        self._columns = [_column(name, spec) for name, spec in contract.columns.items()]
        if contract.id_column:
            self._columns.append(_Column(contract.id_column, required=False, accepts=_printable_ids))
        self._order = [column.name for column in self._columns]
        self._names = frozenset(self._order)
        self._defaults: dict[str, Any] = dict.fromkeys(self._order)  # an optional field left out is None, as in the model
        self._getter = itemgetter(*self._order)
        self._required = frozenset(column.name for column in self._columns if column.required)

    def validate(self, customers: list[Any]) -> list[dict[str, Any]] | None:
        """The validated records (the parsed customers themselves, completed), or None when pydantic must validate them one by one."""
        records = self._completed(customers)
        if not records:  # not all plain objects of known fields, or empty: the batch model words what is wrong
            return None
        count = len(self._columns)
        rows = list(map(self._getter, records))  # one tuple per customer, in field order
        columns = list(zip(*rows, strict=True)) if count > 1 else [tuple(rows)]  # one key: itemgetter gives the value itself
        for column, values in zip(self._columns, columns, strict=True):
            if not column.accepts(values):
                return None
        for column in self._columns:
            if column.as_float:  # pydantic makes a JSON 70 in a number field 70.0
                name = column.name
                for record in records:
                    if type(record[name]) is int:
                        record[name] = float(record[name])
        return records

    def _completed(self, customers: list[Any]) -> list[dict[str, Any]] | None:
        """Each customer with every field (an optional one left out is None, as in the model); None if one cannot be."""
        names, required, count = self._names, self._required, len(self._columns)
        records = []
        for customer in customers:
            if type(customer) is not dict:
                return None
            keys = customer.keys()  # dict views compare as sets, in C
            if len(keys) == count and keys <= names:
                records.append(customer)
            elif keys <= names and keys >= required:
                records.append({**self._defaults, **customer})
            else:
                return None
        return records


def _column(name: str, spec: ColumnSpec) -> _Column:
    nullable = spec.nullable
    if spec.type == "categorical":
        # Values that are also raw codes would be decoded by the model first: those take the slow path.
        allowed: frozenset[Any] = frozenset(spec.values or ()) - frozenset(spec.encoding or ())
        if nullable:
            allowed = allowed | {None}
        return _Column(name, not nullable, lambda values: _all_allowed(values, allowed))
    low = -math.inf if spec.min is None else spec.min
    high = math.inf if spec.max is None else spec.max
    kinds: set[type] = {int} if spec.type == "integer" else {int, float}
    return _Column(name, not nullable, lambda values: _numbers_in_range(values, kinds, low, high, nullable), as_float=spec.type == "number")


def _all_allowed(values: Sequence[Any], allowed: frozenset[Any]) -> bool:
    try:
        return set(values) <= allowed
    except TypeError:  # a list or an object where a category belongs
        return False


def _numbers_in_range(values: Sequence[Any], kinds: set[type], low: float, high: float, nullable: bool) -> bool:
    numbers = [value for value in values if value is not None] if nullable else values
    if not numbers:
        return True
    if not {type(value) for value in numbers} <= kinds:  # type(), not isinstance: booleans are refused
        return False
    smallest, largest = min(numbers), max(numbers)  # JSON has no NaN (strict_loads), so the extremes bound every value
    return low <= smallest and largest <= high and math.isfinite(smallest) and math.isfinite(largest)


def _printable_ids(values: Sequence[Any]) -> bool:
    ids = [value for value in values if value is not None]
    if not all(type(value) is str and len(value) <= MAX_ID_LENGTH for value in ids):
        return False
    return CONTROL_CHARACTER.search("".join(ids)) is None
