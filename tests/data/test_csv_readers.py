"""Arrow's CSV reader (`_arrow_text_frame`) reads what pandas reads, or declines and pandas reads the file:
for the real file and each kind of CSV variant, the cells are the same whichever reader read them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churnops.data import loading

# Each variant, and whether Arrow reads it (False: it declines, pandas reads it).
VARIANTS: dict[str, tuple[bytes, bool]] = {
    "plain": (b"a,b,c\n1,x,Yes\n2,y,No\n", True),
    "semicolons": (b"a;b;c\n1;x;Yes\n2;y;No\n", True),
    "tabs": (b"a\tb\tc\n1\tx\tYes\n", True),
    "pipes": (b"a|b|c\n1|x|Yes\n", True),
    "CRLF line ends": (b"a,b,c\r\n1,x,Yes\r\n2,y,No\r\n", True),
    "spaces around cells and names": (b" a , b ,c\n 1 ,  x,Yes  \n", True),
    "blank cells": (b"a,b,c\n1,,Yes\n, ,\n", True),
    "blank line between rows": (b"a,b,c\n1,x,Yes\n\n2,y,No\n", True),
    "no newline at the end": (b"a,b,c\n1,x,Yes", True),
    "header only": (b"a,b,c\n", True),
    "non-ASCII text": ("a,b,c\n1,Ünïcødé,Yes\n2,\u00a0spaced\u00a0,No\n".encode(), True),
    "repeated values": (b"a,b,c\n" + b"1,x,Yes\n" * 50 + b"2,y,No\n" * 50, True),
    "quoted cell with the delimiter": (b'a,b,c\n1,"x,y",Yes\n', True),
    "quoted cell with a line break": (b'a,b,c\n1,"x\ny",Yes\n2,z,No\n', True),
    "space before a quote": (b'a,b,c\n1, "x",Yes\n', False),
    "quote inside a cell": (b'a,b,c\n1,ab"c,Yes\n', False),
    "doubled quotes in a quoted cell": (b'a,b,c\n1,"say ""hi""",Yes\n', False),
    "row with too few cells": (b"a,b,c\n1,x\n2,y,No\n", False),
    "row with too many cells": (b"a,b,c\n1,x,Yes,extra\n", False),
    "repeated column names": (b"a,a,c\n1,x,Yes\n", False),
    "names repeated once stripped": (b"a, a,c\n1,x,Yes\n", False),
    "blank column name": (b"a,,c\n1,x,Yes\n", False),
    "quoted header": (b'"a","b","c"\n1,x,Yes\n', False),
}


def _pandas_cells(content: bytes, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    with monkeypatch.context() as patch:
        patch.setattr(loading, "_arrow_text_frame", lambda *_: None)
        return loading._text_frame(content, Path("variant.csv"))


def _arrow_cells(content: bytes) -> pd.DataFrame | None:
    head = content.decode("utf-8")
    header = head[: loading._FIRST_LINE.match(head).end()]  # type: ignore[union-attr]
    return loading._arrow_text_frame(content, header, max(loading.DELIMITERS, key=header.count))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_arrow_reads_the_cells_pandas_reads_or_declines(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    content, arrow_reads = VARIANTS[variant]
    cells = _arrow_cells(content)
    assert (cells is not None) == arrow_reads
    if cells is not None:
        pd.testing.assert_frame_equal(cells, _pandas_cells(content, monkeypatch))


def test_arrow_reads_the_real_file_as_pandas_does(telco_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = telco_csv.read_bytes()
    cells = _arrow_cells(content)
    assert cells is not None
    assert cells.isna().sum().sum() > 0  # the blank TotalCharges cells are missing in both
    pd.testing.assert_frame_equal(cells, _pandas_cells(content, monkeypatch))


def test_a_declined_file_is_read_by_pandas(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'a,b,c\n1, "x,y",Yes\n2,z,No\n')  # pandas skips the space before the quote
    cells = loading._read_csv(path)
    assert cells.to_dict("list") == {"a": ["1", "2"], "b": ["x,y", "z"], "c": ["Yes", "No"]}
    assert cells.index.tolist() == [2, 3]  # line numbers
