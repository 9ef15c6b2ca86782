"""Score a file: upload customers (the raw IBM CSV works), see the rows that break the contract, score the rest through
/predict/batch in chunks, and get the riskiest customers first, a histogram and the scored file."""

from __future__ import annotations

import io
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from churnops.data.loading import CheckedRows, check_customer_file
from churnops.errors import DataError
from churnops.ui.client import ApiError
from churnops.ui.common import client, ready_contract, settings

SHOWN_PROBLEMS = 1000


def score(checked: CheckedRows, batch_size: int) -> pd.DataFrame | None:
    valid = checked.valid
    # The cells as read (text): the API converts and decodes them exactly as it does any request; blanks are left out.
    customers: list[dict[str, Any]] = [
        {str(column): value for column, value in row.items() if isinstance(value, str)} for row in valid.to_dict("records")
    ]
    progress = st.progress(0.0, text=f"Scoring {len(customers)} customers through /predict/batch ...")
    predictions: list[dict[str, Any]] = []
    try:
        for chunk in client().predict_batches(customers, batch_size):
            predictions.extend(chunk)
            progress.progress(len(predictions) / len(customers), text=f"Scored {len(predictions)} of {len(customers)} customers")
    except ApiError as error:
        progress.empty()
        st.error(f"Scoring stopped after {len(predictions)} of {len(customers)} customers: {error}", icon=":material/error:")
        return None
    progress.empty()
    scored = pd.DataFrame(predictions, index=valid.index)
    result = valid.copy()
    result.insert(0, "line", valid.index)
    for column in ("churn_probability", "churn", "label", "prediction_id", "model_version"):
        result[column] = scored[column]
    return result.sort_values("churn_probability", ascending=False, ignore_index=True)


def show_problems(problems: pd.DataFrame, rows: int, contract_name: str) -> None:
    bad_rows = problems["line"].nunique()
    st.warning(
        f"{bad_rows} of {rows} rows break contract '{contract_name}' and are left out; the other {rows - bad_rows} are scored. "
        "Each problem below names the file's line (line 1 is the header) and column.",
        icon=":material/rule:",
    )
    st.dataframe(problems.head(SHOWN_PROBLEMS).fillna({"value": "(blank)"}), hide_index=True, width="stretch")


def show_result(result: pd.DataFrame, name: str) -> None:
    st.success(f"{len(result)} customers scored and stored by model version {result['model_version'].iloc[0]}.", icon=":material/check_circle:")
    first, second = st.columns(2)
    first.metric("Scored rows", len(result))
    second.metric("Predicted to churn", int(result["churn"].sum()))
    histogram = (
        alt.Chart(result)
        .mark_bar()
        .encode(x=alt.X("churn_probability:Q", bin=alt.Bin(step=0.05), title="churn probability"), y=alt.Y("count()", title="customers"))
    )
    st.altair_chart(histogram, width="stretch")
    st.subheader("Riskiest customers first")
    st.dataframe(
        result,
        hide_index=True,
        width="stretch",
        column_config={"churn_probability": st.column_config.ProgressColumn(format="%.4f", min_value=0, max_value=1)},
    )
    stem = name.rsplit(".", 1)[0]
    parquet = io.BytesIO()
    result.to_parquet(parquet, index=False)
    left, right = st.columns(2)
    left.download_button("Download scored CSV", result.to_csv(index=False).encode(), f"{stem}-scored.csv", "text/csv")
    right.download_button("Download scored Parquet", parquet.getvalue(), f"{stem}-scored.parquet", "application/vnd.apache.parquet")


def page() -> None:
    st.title("Score a file")
    state, served = ready_contract()
    contract = served.contract
    upload = st.file_uploader(
        f"A CSV of customers with the columns of contract '{contract.name}' (the target column, if present, is ignored)", type=["csv", "txt"]
    )
    if upload is None:
        st.info(f"Columns: {', '.join(contract.input_columns)}.")
        return
    content = upload.getvalue()
    key = (upload.name, len(content), hash(content), state["model_version"])  # a new version scores the file again
    if st.session_state.get("scored_key") == key:  # a rerun (a download, a widget): show what was scored, do not score again
        checked, result = st.session_state["scored"]
    else:
        try:
            checked = check_customer_file(content, upload.name, contract)
        except DataError as error:
            st.error(f"This file cannot be scored: {error}", icon=":material/error:")
            return
        result = score(checked, settings().ui.batch_size) if not checked.valid.empty else None
        if result is not None or checked.valid.empty:
            st.session_state["scored"], st.session_state["scored_key"] = (checked, result), key
    if not checked.problems.empty:
        show_problems(checked.problems, len(checked.rows), contract.name)
    if result is not None:
        show_result(result, upload.name)


page()
