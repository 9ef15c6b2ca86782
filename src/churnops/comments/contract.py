"""The comments file contract: one row per customer comment, with its id, customer, date and text.

Small and fixed (unlike the churn data's YAML contract): comments are free text whatever the data set.
A file is checked whole, so its author sees every bad cell at once, by line as a spreadsheet numbers
them (the header is line 1; a quoted text over several lines is one line), and fixes them in one pass.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from churnops.errors import DataError

COMMENT_COLUMNS: tuple[str, ...] = ("id", "customer_id", "date", "text")
MAX_ID_CHARS = 200  # the prediction API's limit on ids (data/loading.MAX_ID_LENGTH)
MAX_TEXT_CHARS = 4000  # longer texts are not comments (a pasted mail thread, a log): the LLM's context is small
SHOWN_PROBLEMS = 20
SHOWN_VALUE_CHARS = 40
DELIMITERS = (",", ";", "\t")
FIX = "Fix these cells (or remove the rows) and load the file again."


@dataclass(frozen=True)
class _Row:
    line: int  # as a spreadsheet shows it: the header is line 1, a multi-line text is one line
    file_line: int  # where the row starts in a text editor
    cells: list[str]

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line == self.file_line else f"line {self.line} (line {self.file_line} in a text editor)"


def load_comments(path: Path) -> pd.DataFrame:
    """The comments of a CSV file as the columns of COMMENT_COLUMNS, every cell checked.

    `date` is 'YYYY-MM-DD' text, or None when the file leaves it empty (unknown); other cells are stripped text.
    Extra columns (labels, notes) are ignored. Any problem raises a DataError listing every bad cell.
    """
    subject = f"Comments file '{path}'"
    header, rows = _read_rows(path, subject)
    positions = _positions(header, subject)
    if not rows:
        raise DataError(f"{subject} has a header but no comments. Add one row per comment under {','.join(COMMENT_COLUMNS)}.")
    problems: list[str] = []
    records: list[tuple[str, str, str | None, str]] = []
    first_line_of_id: dict[str, int] = {}
    for row in rows:
        if len(row.cells) != len(header):
            problems.append(
                f"{row.where}: {len(row.cells)} cells, the header has {len(header)} "
                "(a text with commas, quotes or line breaks must be in double quotes)"
            )
            continue
        record = tuple(row.cells[positions[column]].strip() for column in COMMENT_COLUMNS)
        comment_id, customer_id, day, text = record
        problems.extend(f"{row.where}, column '{column}': {problem}" for column, problem in _cell_problems(record))
        if comment_id and comment_id in first_line_of_id:
            problems.append(f"{row.where}, column 'id': {_shown(comment_id)} is a duplicate id (first on line {first_line_of_id[comment_id]})")
        first_line_of_id.setdefault(comment_id, row.line)
        records.append((comment_id, customer_id, day or None, text))
    if problems:
        raise DataError(_describe(subject, problems))
    return pd.DataFrame.from_records(records, columns=list(COMMENT_COLUMNS))


def _cell_problems(record: tuple[str, ...]) -> list[tuple[str, str]]:
    comment_id, customer_id, day, text = record
    problems = []
    if not comment_id:
        problems.append(("id", "missing: every comment needs an id"))
    elif len(comment_id) > MAX_ID_CHARS or not comment_id.isprintable():
        problems.append(("id", f"{_shown(comment_id)} is not an id: at most {MAX_ID_CHARS} printable characters ({len(comment_id)} here)"))
    if not customer_id:
        problems.append(("customer_id", "missing: every comment names the customer who wrote it"))
    if day and not _is_iso_date(day):
        problems.append(("date", f"{_shown(day)} is not a date written YYYY-MM-DD (leave the cell empty when the date is unknown)"))
    if not text:
        problems.append(("text", "missing: the comment's text is empty"))
    elif len(text) > MAX_TEXT_CHARS:
        problems.append(("text", f"{_shown(text)} is {len(text)} characters long; a comment is at most {MAX_TEXT_CHARS}"))
    return problems


def _is_iso_date(text: str) -> bool:
    """Exactly YYYY-MM-DD and a real day (2024-02-30 is not); fromisoformat alone also takes 20240105."""
    if len(text) != len("YYYY-MM-DD") or text[4] != "-" or text[7] != "-":
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _read_rows(path: Path, subject: str) -> tuple[list[str], list[_Row]]:
    if not path.exists():
        raise DataError(f"{subject} does not exist. Check the path (a CSV with the columns {', '.join(COMMENT_COLUMNS)}).")
    if not path.is_file():
        raise DataError(f"{subject} is a directory, not a CSV file.")
    content = path.read_bytes()
    if not content.strip():
        raise DataError(f"{subject} is empty. Expected a CSV with the header {','.join(COMMENT_COLUMNS)} and one row per comment.")
    if b"\x00" in content[:8192]:
        raise DataError(f"{subject} is not a CSV: it contains binary data. Export the comments as a UTF-8 CSV.")
    try:
        text = content.decode("utf-8-sig")  # also strips a byte-order mark (Excel's "CSV UTF-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise DataError(f"{subject} is not UTF-8 text (line {line} in a text editor, byte {error.start}). Re-export it as a UTF-8 CSV.") from error
    first = text.lstrip().splitlines()[0]
    reader = csv.reader(io.StringIO(text), delimiter=max(DELIMITERS, key=first.count), strict=True)
    rows: list[_Row] = []
    header: list[str] | None = None
    line = 0
    try:
        for line, cells in enumerate(reader, start=1):
            if header is None:
                header = [cell.strip() for cell in cells] if any(cell.strip() for cell in cells) else None
            elif any(cell.strip() for cell in cells):  # blank lines keep their number, as in a spreadsheet
                rows.append(_Row(line, reader.line_num - _line_breaks(cells), cells))
    except csv.Error as error:
        raise DataError(
            f"{subject} is not a valid CSV near line {line + 1} (line {reader.line_num} in a text editor): {error}. "
            'A quoted text must end with a double quote, and a quote inside it is written twice ("").'
        ) from None
    if header is None:
        raise DataError(f"{subject} is empty. Expected a CSV with the header {','.join(COMMENT_COLUMNS)} and one row per comment.")
    return header, rows


def _line_breaks(cells: list[str]) -> int:
    return sum(cell.count("\n") for cell in cells)


def _positions(header: list[str], subject: str) -> dict[str, int]:
    """Where each contract column is in the header; a missing or repeated column is an error."""
    repeated = sorted({name for name in header if name in COMMENT_COLUMNS and header.count(name) > 1})
    if repeated:
        raise DataError(f"{subject} has the column(s) {', '.join(repeated)} more than once. Keep one of each and load it again.")
    missing = [column for column in COMMENT_COLUMNS if column not in header]
    if len(missing) == len(COMMENT_COLUMNS):
        raise DataError(
            f"{subject} is not a comments CSV: its first line {_shown(','.join(header))} names none of its columns. "
            f"Expected a header line {','.join(COMMENT_COLUMNS)} (comma separated) and one row per comment."
        )
    if missing:
        others = [name for name in header if name not in COMMENT_COLUMNS]
        described = []
        for column in missing:
            close = difflib.get_close_matches(column, others, n=1, cutoff=0.6) or [name for name in others if name.lower() == column.lower()]
            described.append(f"'{column}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise DataError(
            f"{subject} is missing the column(s) {', '.join(described)}; its header is {_shown(','.join(header))}. "
            f"A comments file has the columns {','.join(COMMENT_COLUMNS)}: rename the columns in the file."
        )
    return {column: header.index(column) for column in COMMENT_COLUMNS}


def _describe(subject: str, problems: list[str]) -> str:
    lines = [f"{subject} breaks the comments contract ({len(problems)} problem{'s' if len(problems) > 1 else ''}):"]
    lines.extend(f"  - {problem}" for problem in problems[:SHOWN_PROBLEMS])
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
    lines.append(FIX)
    return "\n".join(lines)


def _shown(value: str) -> str:
    """A cell as an error message quotes it: one line, at most SHOWN_VALUE_CHARS characters."""
    flat = " ".join(value.split())
    return repr(flat if len(flat) <= SHOWN_VALUE_CHARS else flat[: SHOWN_VALUE_CHARS - 1] + "…")
