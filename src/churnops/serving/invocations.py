"""MLflow scoring-server payloads (`dataframe_split`, `dataframe_records`, `inputs`, `instances`, CSV)
turned into validated customer records, so clients of `mlflow models serve` work unchanged."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from churnops.errors import ChurnopsError
from churnops.serving.guards import is_json_content_type, strict_loads

PAYLOAD_KEYS = ("dataframe_split", "dataframe_records", "inputs", "instances")
EXAMPLE_ROWS = 2
MAX_REPORTED_PROBLEMS = 20  # an error message stays readable; the first problems show what is wrong


class InvocationsInputError(ChurnopsError):
    """The payload cannot be read as customers; answered with 400 like MLflow's scoring server."""

    status_code = 400


class UnsupportedContentType(InvocationsInputError):
    """Neither JSON nor CSV; answered with 415 like MLflow's scoring server."""

    status_code = 415


def parse_payload(body: bytes, content_type: str | None, customer: type[BaseModel], max_rows: int) -> list[dict[str, Any]]:
    """Validated customer records; CPU work for a large body, so the API calls it in a worker thread."""
    media_type = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media_type == "text/csv":
        records = _csv_records(body)
    elif is_json_content_type(media_type):
        records = _json_records(body)
    else:
        raise UnsupportedContentType(
            f"This endpoint reads Content-Type application/json (dataframe_split, dataframe_records, inputs, instances) or text/csv; "
            f"got '{media_type[:100]}'. Send one of those."
        )
    if not records:
        raise InvocationsInputError("The payload holds no rows.")
    if len(records) > max_rows:
        raise InvocationsInputError(f"The payload holds {len(records)} rows; at most {max_rows} are accepted per call. Split it into smaller calls.")
    return validate_records(records, customer)


def validate_records(records: list[Any], customer: type[BaseModel]) -> list[dict[str, Any]]:
    """Each row against the contract; columns the model does not use are ignored, as MLflow does."""
    known = {field.alias or name for name, field in customer.model_fields.items()}  # the column names (aliases of the fields)
    valid: list[dict[str, Any]] = []
    problems: list[str] = []
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvocationsInputError(f"Row {row} is not an object of column values.")
        try:
            valid.append(customer.model_validate({key: _blank_is_missing(value) for key, value in record.items() if key in known}).model_dump())
        except ValidationError as error:
            for issue in error.errors():
                column = ".".join(str(part) for part in issue["loc"])
                problems.append(f"row {row}, column '{column}': {issue['msg']}")
        if len(problems) >= MAX_REPORTED_PROBLEMS:
            break
    if problems:
        more = f" (the first {MAX_REPORTED_PROBLEMS}; fix them and send again)" if len(problems) >= MAX_REPORTED_PROBLEMS else ""
        raise InvocationsInputError("Invalid input: " + "; ".join(problems[:MAX_REPORTED_PROBLEMS]) + more)
    return valid


def _blank_is_missing(value: Any) -> Any:
    """A blank cell (the IBM file's TotalCharges for new customers, an empty CSV field) is a missing value, as the
    training loader and the logged model read it; the contract then decides whether the column may be missing."""
    return None if isinstance(value, str) and not value.strip() else value


def _json_records(body: bytes) -> list[Any]:
    try:
        payload = strict_loads(body)  # no NaN/Infinity, overflowing numbers, invalid UTF-8, lone surrogates or deep nesting
    except json.JSONDecodeError as error:
        raise InvocationsInputError(f"The body is not valid JSON ({error}).") from None
    if not isinstance(payload, dict):
        raise InvocationsInputError(f"Expected a JSON object with one of the keys {', '.join(PAYLOAD_KEYS)}.")
    present = [key for key in PAYLOAD_KEYS if key in payload]
    unknown = sorted(set(payload) - set(PAYLOAD_KEYS) - {"params"})
    if len(present) != 1 or unknown:
        raise InvocationsInputError(
            f"Expected exactly one of the keys {', '.join(PAYLOAD_KEYS)} (and optionally 'params'); got {', '.join(sorted(payload)) or 'none'}."
        )
    key = present[0]
    value = payload[key]
    if key == "dataframe_split":
        return _split_records(value)
    if key == "dataframe_records" and isinstance(value, list):
        return value
    if key in ("inputs", "instances"):
        if isinstance(value, dict) and all(isinstance(column, list) for column in value.values()):
            return _columns_records(value)
        if isinstance(value, list):
            return value
    raise InvocationsInputError(f"'{key}' must be a list of row objects{' or an object of column lists' if key != 'dataframe_records' else ''}.")


def _split_records(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict) or not isinstance(value.get("columns"), list) or not isinstance(value.get("data"), list):
        raise InvocationsInputError("'dataframe_split' must be an object with 'columns' (a list of names) and 'data' (a list of rows).")
    columns = value["columns"]
    if not all(isinstance(column, str) for column in columns):
        raise InvocationsInputError('\'dataframe_split\' columns must be column names (strings), e.g. ["gender", "tenure"].')
    records = []
    for row, values in enumerate(value["data"]):
        if not isinstance(values, list) or len(values) != len(columns):
            raise InvocationsInputError(f"'dataframe_split' row {row} must be a list of {len(columns)} values, one per column.")
        records.append(dict(zip(columns, values, strict=True)))
    return records


def _columns_records(value: dict[str, list[Any]]) -> list[dict[str, Any]]:
    lengths = {len(column) for column in value.values()}
    if len(lengths) != 1:
        raise InvocationsInputError("All column lists in 'inputs' must have the same length.")
    return [dict(zip(value, row, strict=True)) for row in zip(*value.values(), strict=True)]


def _csv_records(body: bytes) -> list[Any]:
    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, csv.Error) as error:  # EmptyDataError is a ValueError
        raise InvocationsInputError(f"The body is not a readable UTF-8 CSV with a header row ({str(error)[:200]}).") from None
    return frame.to_dict(orient="records")


def openapi_request_body(example: dict[str, Any]) -> dict[str, Any]:
    """The request body /docs shows: the three MLflow formats, each with a valid example."""
    columns = list(example)
    rows = [example] * EXAMPLE_ROWS
    schema = {
        "type": "object",
        "description": "Exactly one of dataframe_split, dataframe_records, inputs or instances (MLflow scoring-server formats).",
        "properties": {
            "dataframe_split": {
                "type": "object",
                "properties": {"columns": {"type": "array", "items": {"type": "string"}}, "data": {"type": "array", "items": {"type": "array"}}},
                "required": ["columns", "data"],
            },
            "dataframe_records": {"type": "array", "items": {"type": "object"}},
            "inputs": {"oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}]},
            "instances": {"type": "array", "items": {"type": "object"}},
            "params": {"type": "object"},
        },
    }
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": schema,
                "examples": {
                    "dataframe_split": {"value": {"dataframe_split": {"columns": columns, "data": [list(row.values()) for row in rows]}}},
                    "dataframe_records": {"value": {"dataframe_records": rows}},
                    "inputs": {"value": {"inputs": rows}},
                },
            },
            "text/csv": {"schema": {"type": "string"}, "example": ",".join(columns) + "\n" + ",".join(str(value) for value in example.values())},
        },
    }
