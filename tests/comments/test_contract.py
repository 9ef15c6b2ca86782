"""The comments file contract: good files load (BOM, multi-line quoted texts, blank dates, extra columns);
every bad file gives one DataError naming each bad cell by line (as a spreadsheet numbers it) and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churnops.comments.contract import COMMENT_COLUMNS, MAX_TEXT_CHARS, SHOWN_PROBLEMS, load_comments
from churnops.errors import DataError

HEADER = "id,customer_id,date,text\n"


def write(tmp_path: Path, content: str | bytes, name: str = "comments.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def error(path: Path) -> str:
    with pytest.raises(DataError) as caught:
        load_comments(path)
    message = str(caught.value)
    assert str(path) in message, "every error names the file"
    return message


def test_a_good_file_loads_as_the_four_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + 'c-1,7590-VHVEG,2025-03-01,"Internet down again, third time this week."\nc-2,5575-GNVDE,,  Great support!  \n',
    )
    comments = load_comments(path)
    assert list(comments.columns) == list(COMMENT_COLUMNS)
    assert comments.to_dict("records") == [
        {"id": "c-1", "customer_id": "7590-VHVEG", "date": "2025-03-01", "text": "Internet down again, third time this week."},
        {"id": "c-2", "customer_id": "5575-GNVDE", "date": None, "text": "Great support!"},
    ]


def test_a_byte_order_mark_extra_columns_and_column_order_do_not_matter(tmp_path: Path) -> None:
    content = "text,note,date,customer_id,id\nTrop cher.,x,2025-01-02,C1,e-1\n"
    path = write(tmp_path, b"\xef\xbb\xbf" + content.encode("utf-8"))
    comments = load_comments(path)
    assert list(comments.columns) == list(COMMENT_COLUMNS)
    assert comments.iloc[0].tolist() == ["e-1", "C1", "2025-01-02", "Trop cher."]


def test_quoted_texts_over_several_lines_keep_their_line_breaks_and_quotes(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + 'a,C1,2025-01-01,"Hello,\nmy ""fiber"" is down.\n\nThanks"\nb,C2,2025-01-02,ok\n')
    comments = load_comments(path)
    assert comments["text"].tolist() == ['Hello,\nmy "fiber" is down.\n\nThanks', "ok"]


def test_lines_are_counted_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    """A multi-line text is one line of a spreadsheet; the message also gives the text editor's line."""
    path = write(tmp_path, HEADER + 'a,C1,2025-01-01,"two\nlines"\n\nb,,2025-01-02,ok\n')
    message = error(path)
    assert "line 4 (line 5 in a text editor), column 'customer_id': missing" in message


def test_every_bad_cell_is_reported_at_once_with_line_column_and_value(tmp_path: Path) -> None:
    rows = [
        "a,C1,2025-01-01,fine",  # line 2
        ",C2,2025-01-01,no id",  # line 3
        "b,,2025-01-01,no customer",  # line 4
        "c,C3,01/02/2025,US date",  # line 5
        "d,C4,2025-02-30,no such day",  # line 6
        "e,C5,,   ",  # line 7
        f"f,C6,2025-01-01,{'x' * (MAX_TEXT_CHARS + 1)}",  # line 8
        "a,C7,2025-01-01,same id as line 2",  # line 9
        f"{'i' * 201},C8,2025-01-01,long id",  # line 10
        "g,C9,2025-01-01,too,many,cells",  # line 11
        "h,C9,20250101,compact date",  # line 12
    ]
    message = error(write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    expected = [
        "line 3, column 'id': missing",
        "line 4, column 'customer_id': missing",
        "line 5, column 'date': '01/02/2025' is not a date written YYYY-MM-DD",
        "line 6, column 'date': '2025-02-30' is not a date",
        "line 7, column 'text': missing",
        "line 8, column 'text': 'xxxx",
        f"is {MAX_TEXT_CHARS + 1} characters long",
        "line 9, column 'id': 'a' is a duplicate id (first on line 2)",
        "line 10, column 'id': 'iiii",
        "line 11: 6 cells, the header has 4",
        "line 12, column 'date': '20250101'",
    ]
    for part in expected:
        assert part in message, part
    assert "(10 problems)" in message
    assert "line 2" not in message.replace("first on line 2", "")
    assert message.rstrip().endswith("load the file again.")
    assert "i" * 50 not in message, "long values are shortened"


def test_at_most_twenty_problems_are_listed(tmp_path: Path) -> None:
    rows = [f"r{number},,2025-01-01,text" for number in range(30)]
    message = error(write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert message.count("column 'customer_id': missing") == SHOWN_PROBLEMS
    assert "... and 10 more" in message
    assert "(30 problems)" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"   \n\n", "is empty"),
        (HEADER.encode(), "has a header but no comments"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "contains binary data"),
        ("id,customer_id,date,text\na,C1,,caf\xe9\n".encode("latin-1"), "is not UTF-8 text (line 2"),
        (b'{"comments": [1, 2]}\n', "is not a comments CSV"),
        (b"id,customer,date,text\na,C1,,hi\n", "missing the column(s) 'customer_id' (did you mean 'customer'?)"),
        (b"id,Customer_ID,date\na,C1,\n", "'customer_id' (did you mean 'Customer_ID'?), 'text'"),
        (b"id,customer_id,date,text,text\na,C1,,hi,ho\n", "the column(s) text more than once"),
        (b'id,customer_id,date,text\na,C1,,"never closed\nb,C2,,hi\n', "is not a valid CSV near line 2"),
    ],
    ids=["empty", "blank", "header-only", "binary", "latin-1", "json", "misnamed", "two-missing", "repeated", "open-quote"],
)
def test_files_that_are_not_comments_csvs_say_what_is_wrong(tmp_path: Path, content: bytes, expected: str) -> None:
    assert expected in error(write(tmp_path, content))


def test_a_missing_file_or_a_folder_is_a_data_error(tmp_path: Path) -> None:
    assert "does not exist" in error(tmp_path / "nowhere.csv")
    assert "is a directory" in error(tmp_path)


def test_semicolon_separated_exports_load(tmp_path: Path) -> None:
    path = write(tmp_path, "id;customer_id;date;text\na;C1;2025-01-01;Trop cher, vraiment.\n")
    assert load_comments(path)["text"].tolist() == ["Trop cher, vraiment."]


def test_what_pandas_writes_loads_back(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": ["x1", "x2"], "customer_id": ["C1", "C2"], "date": ["2025-05-05", ""], "text": ['He said "hi",\nthen left.', "Très bien, merci !"]}
    )
    path = tmp_path / "frame.csv"
    frame.to_csv(path, index=False)
    loaded = load_comments(path)
    assert loaded["text"].tolist() == frame["text"].tolist()
    assert loaded["date"].tolist() == ["2025-05-05", None]
