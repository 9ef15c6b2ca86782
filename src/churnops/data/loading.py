"""Read a CSV, cope with common export variants, and validate it against the dataset contract.

Every failure becomes a DataError naming the file, the column and the first offending rows.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from churnops.data.contract import ColumnSpec, DatasetContract
from churnops.errors import DataError

DELIMITERS = (",", ";", "\t", "|")
_FIRST_LINE = re.compile(r"[^\r\n]*")  # the header, without splitting the whole file into lines
SHOWN_ROWS = 5  # how many offending rows an error message lists
MAX_ID_LENGTH = 200  # the prediction API's limit on a customer id (serving/schemas.py)


@dataclass(frozen=True)
class Dataset:
    """A validated table: model inputs, the 0/1 target and the ids, plus where it came from."""

    features: pd.DataFrame
    target: pd.Series
    ids: pd.Series | None
    source: str
    fingerprint: str

    @property
    def n_rows(self) -> int:
        return len(self.features)


def load_dataset(path: str | Path, contract: DatasetContract, source: str | None = None) -> Dataset:
    """Load `path`, validate it against `contract` and return model-ready data."""
    path = Path(path)
    validated = _read_and_validate(path, contract, contract.required_columns)
    target_column = contract.target
    target = (validated[target_column.column] == target_column.positive).astype("int64").rename("target")
    _check_class_sizes(target, contract, _Origin.file(path))
    features = to_model_frame(validated[contract.feature_columns], contract)
    ids = validated[contract.id_column].astype(object) if contract.id_column else None
    return Dataset(
        features=features,
        target=target,
        ids=ids,
        source=source or str(path),
        fingerprint=fingerprint(features, target),
    )


@dataclass(frozen=True)
class Customers:
    """Validated customers to score: model inputs and ids. A target column, if the file has one, is ignored."""

    features: pd.DataFrame
    ids: pd.Series | None
    source: str


def load_customers(path: str | Path, contract: DatasetContract, source: str | None = None) -> Customers:
    """Load a file of customers to score (batch scoring): the contract's columns without the target."""
    path = Path(path)
    return validate_customer_rows(_read_csv(path), contract, path, source=source)


def validate_customer_rows(
    rows: pd.DataFrame, contract: DatasetContract, path: str | Path, unit: str = "line", source: str | None = None
) -> Customers:
    """Customers as text cells (blanks missing; index = line number in `path`, or row position with unit="row") -> validated.

    What `load_customers` does once the file is read; Spark's batch scoring (spark/partitions.py) validates each
    partition with it, so a bad row gives the same error (file, column, line, what to do) on either engine.
    """
    origin = _Origin(f"Data file '{path}'", unit)
    _check_columns(rows, contract, origin, contract.input_columns)
    validated = _validate(_apply_encodings(rows, contract), contract, origin, contract.input_columns)
    features = to_model_frame(validated[contract.feature_columns], contract)
    ids = validated[contract.id_column].astype(object) if contract.id_column else None
    return Customers(features=features, ids=ids, source=source or str(path))


def check_customer_columns(columns: list[str], contract: DatasetContract, path: str | Path) -> None:
    """The columns a file of customers to score must have, checked from its header (or schema) alone."""
    _check_columns(pd.DataFrame(columns=columns), contract, _Origin.file(Path(path)), contract.input_columns)


def text_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed values (a Parquet file's) as the CSV reader gives cells: stripped text, None for missing."""
    return pd.DataFrame({str(name): _as_text(frame[name]) for name in frame.columns}, index=frame.index)


def _read_and_validate(path: Path, contract: DatasetContract, required: list[str]) -> pd.DataFrame:
    raw = _read_csv(path)
    origin = _Origin.file(path)
    _check_columns(raw, contract, origin, required)
    return _validate(_apply_encodings(raw, contract), contract, origin, required)


def validate_frame(frame: pd.DataFrame, contract: DatasetContract) -> pd.DataFrame:
    """Customers as a DataFrame in any form pandas reads them (raw file codes, numbers as text, blanks,
    extra columns such as the id) -> the model frame; values outside the contract raise a DataError
    naming the columns and the first offending rows (0-based row positions)."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"Expected a table of customers (a pandas DataFrame), got {type(frame).__name__}.")
    if frame.empty:
        raise DataError("The input has no rows.")
    text = pd.DataFrame({str(name): _as_text(frame[name]) for name in frame.columns})
    text.index = pd.RangeIndex(len(text))
    origin = _Origin.frame()
    required = contract.feature_columns
    _check_columns(text, contract, origin, required)
    validated = _validate(_apply_encodings(text, contract), contract, origin, required)
    return to_model_frame(validated, contract)


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as the CSV reader sees them: stripped text, None for missing (whole floats as integers, so 1.0 decodes like 1)."""

    def cell(value: object) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return None
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        text = str(value).strip()
        return text or None

    return values.astype(object).map(cell)


@dataclass(frozen=True)
class _Origin:
    """What error messages call the input and its rows."""

    subject: str
    unit: str

    @classmethod
    def file(cls, path: Path) -> _Origin:
        return cls(f"Data file '{path}'", "line")

    @classmethod
    def frame(cls) -> _Origin:
        return cls("The input", "row")


def to_model_frame(frame: pd.DataFrame, contract: DatasetContract) -> pd.DataFrame:
    """The exact column order and dtypes the model is trained and served with."""
    columns = {}
    for name, spec in contract.columns.items():
        columns[name] = _as_model_dtype(frame[name], spec)
    return pd.DataFrame(columns, index=frame.index)


def _as_model_dtype(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    if spec.type == "categorical":
        if pd.api.types.infer_dtype(values, skipna=False) == "string":  # nothing missing: a C scan, a quarter of `notna`'s cost
            return values.astype(object)
        return values.astype(object).where(values.notna(), None)  # type: ignore[call-overload]  # stubs lack None; missing must be None
    if spec.type == "integer" and not spec.nullable:
        return pd.to_numeric(values).astype("int64")
    return pd.to_numeric(values).astype("float64")


def fingerprint(features: pd.DataFrame, target: pd.Series) -> str:
    """SHA-256 of the validated content: the same rows give the same hash whatever the file's format."""
    hashed = pd.util.hash_pandas_object(pd.concat([features, target], axis=1), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"Data file '{path}' does not exist. Check the path, or run `churnops synthesize` to create a sample file.")
    if not path.is_file():
        raise DataError(f"Data path '{path}' is a directory, not a CSV file.")
    return _parse_csv(path.read_bytes(), path)


def _parse_csv(content: bytes, path: Path) -> pd.DataFrame:
    """CSV bytes -> text cells (stripped; blanks missing), index = line number; `path` names the file in errors."""
    if not content.strip():
        raise DataError(f"Data file '{path}' is empty. Expected a CSV with a header row and one row per customer.")
    if b"\x00" in content[:8192]:
        raise DataError(f"Data file '{path}' is not a CSV: it contains binary data. Export the table as CSV (comma or semicolon separated).")
    try:
        content.decode("utf-8")  # checked whole; the parser reads the bytes (a copy as text costs more than the check)
    except UnicodeDecodeError as error:
        raise DataError(f"Data file '{path}' is not UTF-8 text (byte {error.start}). Re-export it as a UTF-8 CSV.") from error
    frame = _text_frame(content.removeprefix(codecs.BOM_UTF8), path)
    frame.index = frame.index + 2  # index = line number in the file (line 1 is the header)
    frame = _without_blank_rows(frame)
    if frame.empty:
        raise DataError(f"Data file '{path}' has a header but no data rows.")
    return frame


def _without_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """`dropna(how="all")`, looking at the other columns only where the first cell is missing (a blank line is
    missing everywhere; `isna` over every text column cost a tenth of reading the file)."""
    if frame.shape[1] == 0:
        return frame
    candidates = frame.index[frame.iloc[:, 0].isna().to_numpy()]
    if candidates.empty:
        return frame
    blank = candidates[frame.loc[candidates].isna().all(axis=1).to_numpy()]
    return frame.drop(index=blank)


def _text_frame(text: str | bytes, path: Path) -> pd.DataFrame:
    """CSV text or UTF-8 bytes (header first) -> stripped text cells, blanks missing, one row per line after the
    header (blank lines too)."""
    head = text[:65536].decode("utf-8", errors="ignore") if isinstance(text, bytes) else text
    header = head[: _FIRST_LINE.match(head).end()]  # type: ignore[union-attr]  # matches every text (maybe empty)
    delimiter = max(DELIMITERS, key=header.count)
    if isinstance(text, bytes) and (cells := _arrow_text_frame(text, header, delimiter)) is not None:
        return cells
    source = io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text)
    try:
        # Blank lines are read (as empty rows, dropped by the callers) so that rows stay aligned with the file's lines.
        frame = pd.read_csv(source, encoding="utf-8", sep=delimiter, dtype=str, keep_default_na=False, skipinitialspace=True, skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError) as error:
        raise DataError(f"Data file '{path}' is not a valid CSV: {error}") from error
    stripped = pd.DataFrame({position: _stripped(frame.iloc[:, position]) for position in range(frame.shape[1])}, index=frame.index)
    stripped.columns = [str(column).strip() for column in frame.columns]  # by position: two names may strip to one
    return stripped


def _arrow_text_frame(content: bytes, header: str, delimiter: str) -> pd.DataFrame | None:
    """What the pandas reader below gives, read by Arrow's C++ CSV reader (a third of the time, most of it off the GIL,
    which batch scoring's store thread needs); None where the two readers could differ, and pandas reads the file.

    Arrow gives every cell as text; each column is dictionary-encoded and each distinct text stripped once, as
    `_stripped` does. pandas reads the files Arrow refuses (rows with too few or too many fields), headers with
    quotes, blank or repeated names (pandas renames those), and files where a quote character is left in a cell
    (pandas skips the space before a quote, Arrow keeps both). Without pyarrow (the API image), pandas reads every file.
    """
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional: installed with the train and spark extras
        import pyarrow.csv as pa_csv  # noqa: PLC0415
    except ImportError:
        return None
    names = [name.strip() for name in header.split(delimiter)]
    if '"' in header or "" in names or len(set(names)) != len(names):
        return None
    keys = [f"c{position}" for position in range(len(names))]  # Arrow's names, so the header is not parsed twice
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(content),
            read_options=pa_csv.ReadOptions(column_names=keys, skip_rows=1),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(keys, pa.string()), strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:
        return None
    columns = {}
    for key, name in zip(keys, names, strict=True):
        encoded = table.column(key).combine_chunks().dictionary_encode()
        distinct = encoded.dictionary.to_pylist()
        if any('"' in value for value in distinct):
            return None
        stripped = np.array([value.strip() or None for value in distinct], dtype=object)
        columns[name] = stripped[encoded.indices.to_numpy()]
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def _stripped(cells: pd.Series) -> pd.Series:
    """Text cells stripped, blanks missing. Each distinct value is stripped once: a column of customers
    holds few distinct values (a category, a price), and `str.strip` per cell was half of reading a file."""
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    table = np.array([value.strip() or None for value in uniques] + [None], dtype=object)  # code -1 (a blank line) picks None
    return pd.Series(table[codes], index=cells.index, dtype=object)


def read_csv_head(content: bytes, path: str | Path) -> str:
    """The header line of a CSV from the file's first bytes, with the checks `load_customers` makes of the whole file
    (empty, binary, not UTF-8): for readers that parse the rest line by line (spark/partitions.py)."""
    path = Path(path)
    if not content.strip():
        raise DataError(f"Data file '{path}' is empty. Expected a CSV with a header row and one row per customer.")
    if b"\x00" in content[:8192]:
        raise DataError(f"Data file '{path}' is not a CSV: it contains binary data. Export the table as CSV (comma or semicolon separated).")
    first = content.split(b"\n", 1)[0]
    try:
        return first.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError as error:
        raise DataError(f"Data file '{path}' is not UTF-8 text (byte {error.start}). Re-export it as a UTF-8 CSV.") from error


def header_columns(header: str, path: str | Path) -> list[str]:
    """The column names of a CSV header line, as `load_customers` reads them."""
    return list(_text_frame(header + "\n", Path(path)).columns)


def parse_csv_lines(header: str, lines: list[str], line_numbers: list[int], path: str | Path) -> pd.DataFrame:
    """Some lines of a CSV file (not its header) -> text cells as `load_customers` reads them; index = each line's number.

    Blank lines are dropped. A quoted field spanning lines cannot be read line by line: that is a DataError.
    """
    path = Path(path)
    frame = _text_frame(header + "\n" + "\n".join(lines) + "\n", path)
    if len(frame) != len(lines):
        raise DataError(
            f"Data file '{path}' has a quoted field that spans lines (near line {line_numbers[0]}), which a reader that splits the "
            "file by lines cannot take. Score it with `churnops score` (the local engine) or convert it to Parquet."
        )
    frame.index = pd.Index(line_numbers)
    return _without_blank_rows(frame)


@dataclass(frozen=True)
class CheckedRows:
    """A file of customers read whole, with what is wrong in which rows (the front end scores the rest)."""

    rows: pd.DataFrame  # the id (when present) and feature columns as read: text, blanks missing; index = line number
    problems: pd.DataFrame  # one row per bad cell: line, column, value, problem; empty when every row keeps the contract

    @property
    def valid(self) -> pd.DataFrame:
        return self.rows.drop(index=self.problems["line"].unique().tolist())


def _cell(value: object) -> str | None:
    return value if isinstance(value, str) else None  # a blank cell is missing (NaN) in the frame


def check_customer_file(content: bytes, name: str, contract: DatasetContract) -> CheckedRows:
    """Every contract problem of every row, as a table, instead of the first ones in a DataError.

    A file that cannot be read, or lacks a feature column, still raises DataError: no row could be scored.
    """
    path = Path(name)
    raw = _parse_csv(content, path)
    _check_columns(raw, contract, _Origin.file(path), contract.feature_columns)
    columns = [*([contract.id_column] if contract.id_column in raw.columns else []), *contract.feature_columns]
    rows = raw[columns]
    numbers, type_errors = _convert_numbers(_apply_encodings(rows, contract), contract)
    problems: list[tuple[int, str, object, str]] = [
        (line, column, value, _explain(column, "coerce_dtype", contract)) for column, line, value in type_errors.cases
    ]
    try:
        _schema(contract, with_target=False, with_id=False).validate(numbers, lazy=True)
    except SchemaErrors as errors:
        failures = errors.failure_cases
        for column, check, line in zip(failures["column"], failures["check"], failures["index"], strict=True):
            if pd.notna(line) and (column, int(line)) not in type_errors.cells:  # a cell that is not a number is reported once
                problems.append((int(line), str(column), _cell(rows.at[int(line), column]), _explain(str(column), str(check), contract)))
    id_column = contract.id_column
    if id_column and id_column in rows.columns:  # the API stores ids of at most MAX_ID_LENGTH printable characters
        ids = rows[id_column].dropna()
        bad = ids[(ids.str.len() > MAX_ID_LENGTH) | ~ids.map(str.isprintable)]
        for line, value in zip(bad.index.tolist(), bad.tolist(), strict=True):
            problems.append((int(line), id_column, value, f"an id is at most {MAX_ID_LENGTH} printable characters"))
    table = pd.DataFrame(problems, columns=["line", "column", "value", "problem"]).sort_values(["line", "column"], ignore_index=True)
    return CheckedRows(rows, table)


def _check_columns(frame: pd.DataFrame, contract: DatasetContract, origin: _Origin, required: list[str]) -> None:
    present = list(frame.columns)
    missing = [column for column in required if column not in present]
    if not missing:
        return
    unexpected = [name for name in present if name not in required]
    problems = []
    for column in missing:
        close = difflib.get_close_matches(column, unexpected, n=1, cutoff=0.6) or [name for name in unexpected if name.lower() == column.lower()]
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"'{column}'{hint}")
    if len(present) == 1 and len(required) > 1:
        raise DataError(
            f"{origin.subject} is not a CSV the contract '{contract.name}' can read: found a single column "
            f"'{present[0][:60]}'. Expected columns separated by ',' or ';'."
        )
    raise DataError(
        f"{origin.subject} is missing column(s) {', '.join(problems)} required by contract '{contract.name}'. "
        "Rename the column(s) in the file or edit the contract."
    )


def _apply_encodings(frame: pd.DataFrame, contract: DatasetContract) -> pd.DataFrame:
    frame = frame.copy()
    for name, spec in contract.columns.items():
        if spec.encoding:
            values = frame[name]
            codes = values.dropna().unique()
            frame[name] = values.map(dict(zip(codes, map(spec.decode, codes), strict=True)))  # decode each distinct code once
    return frame


def _schema(contract: DatasetContract, with_target: bool, with_id: bool) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    for name, spec in contract.columns.items():
        checks = []
        if spec.type == "categorical":
            checks.append(pa.Check.isin(spec.values or []))
            dtype: type | None = (
                None  # cells are text as read (or _as_text); the isin check admits strings only, pandera's str check is a Python call per cell
            )
        else:
            dtype = float  # numbers are converted (and type errors reported) before the schema runs
            if spec.min is not None:
                checks.append(pa.Check.ge(spec.min))
            if spec.max is not None:
                checks.append(pa.Check.le(spec.max))
        columns[name] = pa.Column(dtype, checks=checks, nullable=spec.nullable)
    target = contract.target
    if with_target:
        columns[target.column] = pa.Column(str, pa.Check.isin([target.positive, target.negative]), nullable=False)
    if contract.id_column and with_id:
        columns[contract.id_column] = pa.Column(str, nullable=False, unique=True)
    return pa.DataFrameSchema(columns, strict=False)


def _validate(frame: pd.DataFrame, contract: DatasetContract, origin: _Origin, required: list[str]) -> pd.DataFrame:
    frame, type_errors = _convert_numbers(frame[required], contract, origin.unit)
    if not type_errors.lines and _keeps_contract(frame, contract, required):
        return frame  # what pandera would return; pandera runs only to word what is wrong
    try:
        schema = _schema(contract, with_target=contract.target.column in required, with_id=contract.id_column in required)
        validated = schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        failures = errors.failure_cases
        # A cell that is not a number was already reported as such; do not report it twice as missing.
        already = failures.apply(lambda row: (row["column"], row["index"]) in type_errors.cells, axis=1)
        raise DataError(_describe_failures(failures[~already], contract, origin, type_errors.lines)) from None
    if type_errors.lines:
        raise DataError(_describe_failures(None, contract, origin, type_errors.lines))
    return validated


def _keeps_contract(frame: pd.DataFrame, contract: DatasetContract, required: list[str]) -> bool:
    """Whether `frame` passes `_schema` (numbers already converted), checked column-wise in C: pandera's own
    checks cost as much as reading the file. False means only "let pandera look": it finds and words each failure."""
    if not all(_column_keeps(frame[name].to_numpy(), spec) for name, spec in contract.columns.items()):
        return False
    target = contract.target
    if target.column in required and not set(pd.unique(frame[target.column])) <= {target.positive, target.negative}:
        return False
    ids = frame[contract.id_column] if contract.id_column and contract.id_column in required else None
    return ids is None or (pd.api.types.infer_dtype(ids, skipna=False) == "string" and ids.is_unique)


def _column_keeps(values: np.ndarray, spec: ColumnSpec) -> bool:
    if spec.type == "categorical":  # one hash pass: `isna` on text costs as much as `unique`
        allowed = set(spec.values or [])
        return all(value in allowed or (spec.nullable and pd.isna(value)) for value in pd.unique(values))
    if values.dtype != np.float64 or (not spec.nullable and np.isnan(values).any()):
        return False
    present = values[~np.isnan(values)]
    return (spec.min is None or bool((present >= spec.min).all())) and (spec.max is None or bool((present <= spec.max).all()))


@dataclass
class _TypeErrors:
    lines: list[str]
    cells: set[tuple[str, int]]
    cases: list[tuple[str, int, object]]  # (column, row, the cell as read)


def _convert_numbers(frame: pd.DataFrame, contract: DatasetContract, unit: str = "line") -> tuple[pd.DataFrame, _TypeErrors]:
    """Numeric columns to float; cells that are not finite (whole) numbers become missing and are reported."""
    frame = frame.copy()
    found = _TypeErrors([], set(), [])
    for name, spec in contract.columns.items():
        if not spec.is_numeric:
            continue
        raw = frame[name]
        numbers = _to_numbers(raw)
        bad = raw.notna() & ~np.isfinite(numbers)
        if spec.type == "integer":
            bad |= numbers.notna() & (numbers % 1 != 0)
        if bad.any():
            offending = pd.DataFrame({"index": raw.index[bad], "failure_case": raw[bad].to_numpy()})
            kind = "whole numbers" if spec.type == "integer" else "numbers"
            found.lines.append(f"  - column '{name}': expected {kind}; {_rows(offending, unit)}")
            found.cells.update((name, int(index)) for index in raw.index[bad])
            found.cases.extend((name, int(index), value) for index, value in zip(raw.index[bad], raw[bad], strict=True))
        frame[name] = numbers.mask(bad)
    return frame, found


def _to_numbers(cells: pd.Series) -> pd.Series:
    """Text cells to float64 (NaN where not a number), each distinct text converted once."""
    if not pd.api.types.is_object_dtype(cells):
        return pd.to_numeric(cells, errors="coerce").astype("float64")
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    table = np.append(pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype=np.float64), np.nan)
    return pd.Series(table[codes], index=cells.index)  # code -1 (missing) picks the trailing NaN


def _describe_failures(failures: pd.DataFrame | None, contract: DatasetContract, origin: _Origin, first_lines: list[str]) -> str:
    lines = [f"{origin.subject} breaks contract '{contract.name}':", *first_lines]
    if failures is not None:
        for (column, check), group in failures.groupby(["column", "check"], sort=False, dropna=False):
            lines.append(f"  - column '{column}': {_explain(str(column), str(check), contract)}; {_rows(group, origin.unit)}")
    lines.append("Fix these rows, or update the contract if the new values are legitimate.")
    return "\n".join(lines)


def _explain(column: str, check: str, contract: DatasetContract) -> str:
    spec = contract.columns.get(column)
    if check == "not_nullable":
        return "missing value where the contract requires one"
    if column == contract.target.column:
        return f"target values must be exactly '{contract.target.positive}' or '{contract.target.negative}'"
    if "unique" in check:
        return "duplicate id (each row must be a distinct customer)"
    if spec is None:
        return f"failed check {check}"
    by_check = {
        "isin": f"unknown category (allowed: {', '.join(spec.values or [])})",
        "coerce_dtype": f"expected {'whole numbers' if spec.type == 'integer' else 'numbers'}",
        "greater_than": f"value out of range [{spec.min}, {spec.max}]",
        "less_than": f"value out of range [{spec.min}, {spec.max}]",
    }
    return next((reason for prefix, reason in by_check.items() if check.startswith(prefix)), f"failed check {check}")


def _rows(group: pd.DataFrame, unit: str = "line") -> str:
    shown = group.head(SHOWN_ROWS)
    cases = ", ".join(
        f"{unit} {int(index)}: {_shown(case)}" if pd.notna(index) else _shown(case)
        for index, case in zip(shown["index"], shown["failure_case"], strict=True)
    )
    more = f" (and {len(group) - SHOWN_ROWS} more)" if len(group) > SHOWN_ROWS else ""
    return f"{len(group)} row(s), first: {cases}{more}"


def _shown(case: object) -> str:
    return "(blank)" if case is None or (isinstance(case, float) and pd.isna(case)) else repr(case)


def _check_class_sizes(target: pd.Series, contract: DatasetContract, origin: _Origin) -> None:
    counts = {contract.target.positive: int(target.sum()), contract.target.negative: int((1 - target).sum())}
    too_few = {label: count for label, count in counts.items() if count < contract.min_rows_per_class}
    if too_few:
        described = ", ".join(f"'{label}': {count}" for label, count in too_few.items())
        raise DataError(
            f"{origin.subject} has too few rows of a class in '{contract.target.column}' ({described}); "
            f"the contract needs at least {contract.min_rows_per_class} of each to train and evaluate."
        )
