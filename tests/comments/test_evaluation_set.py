"""The hand-labelled evaluation set: shipped in the package, in the comments contract, labels in the taxonomy, the promised mix."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from importlib.resources import as_file, files
from pathlib import Path

import pandas as pd
import pytest

from churnops.comments.analysis import CHURN_RISKS, MAX_REASONS, REASONS, SENTIMENTS
from churnops.comments.contract import load_comments
from churnops.comments.evaluation_set import EVALUATION_COLUMNS, load_evaluation_set
from tests.support.paths import ROOT
from tests.support.prerequisites import require

STYLES = ("short", "long", "sarcastic", "mixed", "plain")
SHORT_WORDS, LONG_WORDS = 12, 50  # the guide's lengths (comments/data/README.md)


@pytest.fixture(scope="module")
def evaluation() -> pd.DataFrame:
    return load_evaluation_set()


def test_the_set_is_big_enough_with_unique_ids_and_the_columns(evaluation: pd.DataFrame) -> None:
    assert len(evaluation) >= 160
    assert list(evaluation.columns) == list(EVALUATION_COLUMNS)
    assert evaluation["id"].is_unique
    assert evaluation["id"].str.fullmatch(r"e-\d{3}").all()
    assert evaluation["text"].is_unique


def test_every_label_is_in_the_taxonomy(evaluation: pd.DataFrame) -> None:
    assert set(evaluation["sentiment"]) == set(SENTIMENTS)
    assert set(evaluation["churn_risk"]) == set(CHURN_RISKS)
    assert set(evaluation["language"]) == {"en", "fr"}
    assert set(evaluation["style"]) == set(STYLES)
    for reasons in evaluation["reasons"]:
        assert 1 <= len(reasons) <= MAX_REASONS and len(set(reasons)) == len(reasons), reasons
        assert set(reasons) <= set(REASONS), reasons


def test_the_mix(evaluation: pd.DataFrame) -> None:
    assert (evaluation["language"] == "fr").sum() >= 40
    styles = evaluation["style"].value_counts()
    assert all(styles[style] >= 25 for style in ("short", "long", "sarcastic", "mixed")), styles.to_dict()
    sentiments = evaluation["sentiment"].value_counts()
    assert all(sentiments[sentiment] >= 25 for sentiment in SENTIMENTS), sentiments.to_dict()
    reasons = evaluation["reasons"].explode().value_counts()
    assert all(reasons.get(reason, 0) >= 10 for reason in REASONS), reasons.to_dict()
    risks = evaluation["churn_risk"].value_counts()
    assert all(risks[risk] >= 15 for risk in CHURN_RISKS), risks.to_dict()


def test_labels_follow_the_guide(evaluation: pd.DataFrame) -> None:
    """The rules of comments/data/README.md that can be checked mechanically."""
    assert (evaluation.loc[evaluation["style"] == "sarcastic", "sentiment"] == "negative").all(), "sarcasm is negative"
    assert ((evaluation["style"] == "mixed") == (evaluation["sentiment"] == "mixed")).all(), "mixed style = praise and complaint"
    words = evaluation["text"].str.split().str.len()
    assert (words[evaluation["style"] == "short"] <= SHORT_WORDS).all()
    assert (words[evaluation["style"] == "long"] >= LONG_WORDS).all()
    assert words[evaluation["style"] == "plain"].between(SHORT_WORDS + 1, LONG_WORDS - 1).all()


def test_the_file_keeps_the_comments_contract(evaluation: pd.DataFrame) -> None:
    with as_file(files("churnops.comments").joinpath("data", "evaluation.csv")) as path:
        comments = load_comments(path)
    assert comments["id"].tolist() == evaluation["id"].tolist()
    assert comments["text"].str.contains("\n").any(), "some letters keep their line breaks"
    assert evaluation["date"].isna().sum() >= 1 and evaluation["date"].notna().sum() > 150


def test_customer_ids_are_real_telco_customers(evaluation: pd.DataFrame, telco_csv: Path) -> None:
    customers = pd.read_csv(telco_csv, dtype=str, keep_default_na=False).set_index("customerID")
    assert evaluation["customer_id"].isin(customers.index).all()
    assert evaluation["customer_id"].is_unique
    rows = customers.loc[evaluation["customer_id"]]
    fibre = evaluation[rows["InternetService"].eq("Fiber optic").to_numpy()]
    assert fibre["text"].str.contains("fib", case=False).sum() > 10, "fibre comments come from fibre customers"
    high = rows[(evaluation["churn_risk"] == "high").to_numpy()]
    assert (high["Churn"] == "Yes").mean() >= 0.7, "customers who say they leave mostly did"


def test_the_wheel_ships_the_set_and_its_guide(tmp_path: Path) -> None:
    """hatch packages every file under src/churnops (none is git-ignored): the CSV and its guide travel in the wheel."""
    uv = os.environ.get("UV") or shutil.which("uv") or shutil.which("uv", path=str(Path.home() / ".local" / "bin"))
    require(uv is not None, "uv not found (make env installs it)")
    built = subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300, check=False
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "churnops/comments/data/evaluation.csv" in names
    assert "churnops/comments/data/README.md" in names
