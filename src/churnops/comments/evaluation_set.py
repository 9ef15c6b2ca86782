"""The hand-labelled comments evaluation set that ships inside the package (comments/data/evaluation.csv).

It is the truth analyses are scored against, so it is read from the installed package (importlib.resources),
never from a path a user could swap; comments/data/README.md is its labelling guide.
"""

from __future__ import annotations

import io
from importlib.resources import files

import pandas as pd

EVALUATION_FILE = "evaluation.csv"
EVALUATION_COLUMNS = ("id", "customer_id", "date", "text", "language", "style", "sentiment", "churn_risk", "reasons")


def evaluation_set_text() -> str:
    """The file as shipped (UTF-8), e.g. to log it with a run or to fingerprint it."""
    return files("churnops.comments").joinpath("data", EVALUATION_FILE).read_text(encoding="utf-8")


def load_evaluation_set() -> pd.DataFrame:
    """The evaluation comments with their labels; `reasons` as lists (most important first), an unknown `date` as None."""
    frame = pd.read_csv(io.StringIO(evaluation_set_text()), dtype=str, keep_default_na=False)
    frame = frame[list(EVALUATION_COLUMNS)]
    frame["date"] = frame["date"].map(lambda day: day or None)
    frame["reasons"] = frame["reasons"].str.split(";")
    return frame
