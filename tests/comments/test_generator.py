"""The comment generator: deterministic per seed, tied to the customers' rows, varied, in the comments contract."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churnops.comments.analysis import CHURN_RISKS, MAX_REASONS, REASONS, SENTIMENTS
from churnops.comments.contract import COMMENT_COLUMNS, load_comments
from churnops.comments.generator import LABEL_COLUMNS, generate_comments, write_comments
from churnops.data.synthetic import generate as synthetic_customers
from churnops.errors import DataError


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    """Telco-shaped rows as the CSV reader gives them (text), with churners and loyal two-year customers."""
    return synthetic_customers(rows=2500, seed=3).astype(str)


@pytest.fixture(scope="module")
def comments(customers: pd.DataFrame) -> pd.DataFrame:
    return generate_comments(customers, seed=11)


def test_the_same_seed_gives_the_same_comments_and_another_seed_others(customers: pd.DataFrame, comments: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_comments(customers, seed=11), comments)
    other = generate_comments(customers, seed=12)
    assert (other["text"] != comments["text"]).mean() > 0.8


def test_columns_ids_and_labels_keep_the_contract_and_the_taxonomy(customers: pd.DataFrame, comments: pd.DataFrame) -> None:
    assert list(comments.columns) == [*COMMENT_COLUMNS, *LABEL_COLUMNS]
    assert comments["id"].tolist()[:3] == ["c-000001", "c-000002", "c-000003"]
    assert comments["id"].is_unique
    assert comments["customer_id"].tolist() == customers["customerID"].tolist()
    assert set(comments["sentiment"]) == set(SENTIMENTS)
    assert set(comments["churn_risk"]) == set(CHURN_RISKS)
    reasons = comments["reasons"].str.split(";")
    assert reasons.map(lambda names: 1 <= len(names) <= MAX_REASONS and len(set(names)) == len(names)).all()
    assert set(reasons.explode()) == set(REASONS), "every reason appears"
    assert set(comments["language"]) == {"en", "fr"}


def test_about_a_fifth_is_french(comments: pd.DataFrame) -> None:
    assert 0.16 <= (comments["language"] == "fr").mean() <= 0.24


def test_texts_are_varied(comments: pd.DataFrame) -> None:
    sample = comments.head(2000)
    assert sample["text"].nunique() / len(sample) >= 0.6
    assert comments["text"].str.len().between(5, 4000).all()


def test_what_customers_say_follows_their_row(customers: pd.DataFrame, comments: pd.DataFrame) -> None:
    rows = comments.join(customers.set_index("customerID"), on="customer_id")
    churned = rows[rows["Churn"] == "Yes"]
    loyal = rows[(rows["Churn"] == "No") & (rows["Contract"] == "Two year") & (rows["tenure"].astype(int) >= 36)]
    negative = {name: (group["sentiment"] == "negative").mean() for name, group in {"churned": churned, "loyal": loyal}.items()}
    assert negative["churned"] >= 0.55 and negative["loyal"] <= 0.15, negative
    assert (churned["churn_risk"] == "high").mean() >= 0.5 > (loyal["churn_risk"] == "high").mean() + 0.4
    assert (loyal["sentiment"] == "positive").mean() >= 0.5

    def share(frame: pd.DataFrame, reason: str) -> float:
        return float(frame["reasons"].str.contains(reason).mean())

    others = rows[rows["Churn"] == "No"]
    assert share(churned, "competitor_offer") > 2 * share(others, "competitor_offer")
    fiber, no_internet = rows[rows["InternetService"] == "Fiber optic"], rows[rows["InternetService"] == "No"]
    assert share(fiber, "network_quality") > 2 * share(no_internet, "network_quality")
    complaints = rows[rows["sentiment"] == "negative"]  # a low bill is praised, a high one complained about
    monthly = complaints["MonthlyCharges"].astype(float)
    assert share(complaints[monthly >= 90], "price") > share(complaints[monthly < 40], "price") + 0.1
    assert share(complaints[complaints["PaymentMethod"] == "Electronic check"], "billing") > share(
        complaints[complaints["PaymentMethod"] != "Electronic check"], "billing"
    )
    assert share(complaints[complaints["TechSupport"] == "No"], "customer_service") > share(
        complaints[complaints["TechSupport"] == "Yes"], "customer_service"
    )
    assert share(complaints[complaints["Contract"] == "Month-to-month"], "contract_terms") > share(
        complaints[complaints["Contract"] == "Two year"], "contract_terms"
    )


def test_sarcasm_is_labelled_negative_and_amounts_come_from_the_bill(customers: pd.DataFrame, comments: pd.DataFrame) -> None:
    rows = comments.join(customers.set_index("customerID"), on="customer_id")
    english = rows[rows["language"] == "en"]
    with_bill = english[
        [f"${float(amount):.2f}".replace(".00", "") in text for amount, text in zip(english["MonthlyCharges"], english["text"], strict=True)]
    ]
    assert len(with_bill) > 50, "some comments quote the customer's own monthly charge"
    french = rows[rows["language"] == "fr"]["text"]
    assert french.str.contains("€").sum() == 0 and french.str.contains(r"\d,\d\d \$").any()


def test_a_share_of_customers_and_the_date_window(customers: pd.DataFrame) -> None:
    start = pd.Timestamp("2024-06-01").date()
    some = generate_comments(customers, seed=1, share=0.1, start=start, days=30)
    assert len(some) == 250
    assert some["customer_id"].isin(customers["customerID"]).all() and some["customer_id"].is_unique
    dates = pd.to_datetime(some["date"].replace("", None))
    assert dates.min() >= pd.Timestamp(start) and dates.max() < pd.Timestamp(start) + pd.Timedelta(days=30)


@pytest.mark.parametrize(("arguments", "expected"), [({"share": 0}, "share"), ({"share": 1.5}, "share"), ({"days": 0}, "days")])
def test_bad_arguments_say_which(customers: pd.DataFrame, arguments: dict[str, float], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        generate_comments(customers, **arguments)  # type: ignore[arg-type]


def test_customers_without_the_telco_columns_are_refused() -> None:
    with pytest.raises(DataError, match="customerID"):
        generate_comments(pd.DataFrame({"id": ["a"]}))


def test_written_comments_pass_the_contract(tmp_path: Path, customers: pd.DataFrame) -> None:
    customers_csv = tmp_path / "customers.csv"
    customers.to_csv(customers_csv, index=False)
    output = tmp_path / "out" / "comments.csv"
    assert write_comments(customers_csv, output, seed=4, share=0.2) == 500
    loaded = load_comments(output)
    written = pd.read_csv(output, dtype=str, keep_default_na=False)
    assert list(written.columns) == [*COMMENT_COLUMNS, *LABEL_COLUMNS]
    assert loaded["text"].tolist() == written["text"].str.strip().tolist()
    assert loaded["text"].str.contains("\n").any(), "long comments are letters over several lines"
    with pytest.raises(DataError, match="does not exist"):
        write_comments(tmp_path / "missing.csv", output)


def test_real_telco_customers(telco_csv: Path, tmp_path: Path) -> None:
    output = tmp_path / "telco_comments.csv"
    assert write_comments(telco_csv, output, seed=42, share=0.25) == round(7043 * 0.25)
    assert load_comments(output)["customer_id"].isin(pd.read_csv(telco_csv, dtype=str)["customerID"]).all()
