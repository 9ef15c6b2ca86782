"""Predict one customer: a form from the served contract, the API's answer, why, and what if."""

from __future__ import annotations

import time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from churnops.data.contract import DatasetContract
from churnops.ui.common import attempt, client, ready_contract
from churnops.ui.forms import customer_inputs, value_input

SHOWN_CONTRIBUTIONS = 10
SWEEP_POINTS = 13  # probabilities drawn across a numeric feature's range in the what-if chart


def contributions_chart(contributions: list[dict[str, Any]]) -> alt.Chart:
    moving = [item for item in contributions if item["effect"] != 0] or contributions[:1]  # values at the typical one move nothing
    frame = pd.DataFrame(moving[:SHOWN_CONTRIBUTIONS]).astype({"value": str, "reference": str})  # text and numbers mixed
    frame["direction"] = frame["effect"].map(lambda effect: "raises risk" if effect > 0 else "lowers risk")
    frame["label"] = frame["feature"] + " = " + frame["value"].astype(str)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("effect:Q", title="change in churn probability against the typical customer"),
            y=alt.Y("label:N", sort=None, title=None),
            color=alt.Color("direction:N", scale=alt.Scale(domain=["raises risk", "lowers risk"], range=["#d62728", "#2ca02c"]), title=None),
            tooltip=["feature", "value", "reference", alt.Tooltip("effect:Q", format="+.4f")],
        )
    )


@st.cache_data(ttl=600, max_entries=2000, show_spinner=False)
def explained(record: dict[str, Any], model_version: str) -> dict[str, Any]:
    """/explain of one customer by one version: reruns (every widget change) do not ask the API again."""
    return client().explain(record)


def what_if(contract: DatasetContract, answer: dict[str, Any]) -> None:
    record, base, version = answer["record"], answer["prediction"]["churn_probability"], answer["prediction"]["model_version"]
    features = contract.feature_columns
    preferred = next((name for name in features if "contract" in name.lower()), features[0])
    feature = st.selectbox("Change", features, index=features.index(preferred), key="what_if:feature")
    spec = contract.columns[feature]
    # Keyed by the prediction too: a new customer starts from its own value, not the last one's.
    key = f"what_if:value:{feature}:{answer['prediction']['prediction_id']}"
    new_value = value_input(feature, spec, record.get(feature), key=key, label=f"New {feature}")
    changed = attempt(lambda: explained({**record, feature: new_value}, version), "score the changed customer")
    if changed is None:
        return
    probability = changed["churn_probability"]
    st.metric(f"Churn probability with {feature} = {new_value}", f"{probability:.4f}", delta=f"{probability - base:+.4f}", delta_color="inverse")
    if spec.type == "categorical":
        values: list[Any] = list(spec.values or [])
    else:
        low = spec.min if spec.min is not None else 0.0
        high = spec.max if spec.max is not None else max(float(record.get(feature) or 1) * 2, 1.0)
        values = [low + (high - low) * step / (SWEEP_POINTS - 1) for step in range(SWEEP_POINTS)]
        values = [round(value) for value in values] if spec.type == "integer" else values
    sweep = attempt(
        lambda: [{feature: value, "churn probability": explained({**record, feature: value}, version)["churn_probability"]} for value in values],
        f"draw the probability across {feature}",
    )
    if sweep is None:
        return
    mark = alt.Chart(pd.DataFrame(sweep))
    chart = mark.mark_bar() if spec.type == "categorical" else mark.mark_line(point=True)
    st.altair_chart(
        chart.encode(
            x=alt.X(f"{feature}:{'N' if spec.type == 'categorical' else 'Q'}"), y=alt.Y("churn probability:Q", scale=alt.Scale(domain=[0, 1]))
        ),
        width="stretch",
    )


def show_prediction(answer: dict[str, Any]) -> None:
    prediction = answer["prediction"]
    first, second, third = st.columns(3)
    first.metric("Churn probability", f"{prediction['churn_probability']:.4f}")
    second.metric(f"Prediction (threshold {prediction['threshold']:.3f})", prediction["label"])
    third.metric("Model", f"{prediction['model_name']} v{prediction['model_version']}")
    st.caption(f"Prediction id {prediction['prediction_id']} (stored; send feedback with it) · answered in {answer['milliseconds']:.0f} ms")


def show_why(record: dict[str, Any], model_version: str) -> None:
    st.subheader("Why")
    explanation = attempt(lambda: explained(record, model_version), "explain the prediction")
    if explanation is None:
        return
    contributions = explanation["contributions"]
    up = [item["feature"] for item in contributions if item["effect"] > 0][:3]
    down = [item["feature"] for item in contributions if item["effect"] < 0][:3]
    raising = f"**{', '.join(up)}** raise this customer's risk most" if up else "no value raises this customer's risk"
    lowering = f"**{', '.join(down)}** lower it most" if down else "no value lowers it"
    st.write(
        f"Against a typical training customer (the form's defaults), {raising}; {lowering} "
        "(each bar: the probability minus the probability with that one value set to the typical one)."
    )
    st.altair_chart(contributions_chart(contributions), width="stretch")


def page() -> None:
    st.title("Predict one customer")
    state, contract = ready_contract()
    with st.form("customer"):
        record = customer_inputs(contract.contract, contract.example, key="customer")
        submitted = st.form_submit_button("Predict churn", type="primary")
    if submitted:
        st.session_state.pop("answer", None)  # a failed prediction must not leave the last customer's answer on screen
        started = time.perf_counter()
        prediction = attempt(lambda: client().predict(record), "predict")
        if prediction:
            st.session_state["answer"] = {"record": record, "prediction": prediction, "milliseconds": (time.perf_counter() - started) * 1000}
    answer = st.session_state.get("answer")
    if answer is not None and answer["prediction"]["model_version"] != state["model_version"]:
        st.session_state.pop("answer")  # another version is served now: its answer may differ, predict again
        answer = None
    if answer is None:
        st.info("Fill in the customer (the defaults are a typical training customer) and press **Predict churn**.")
        return
    show_prediction(answer)  # first: the page shows the answer while the explanation is computed (not stored)
    show_why(answer["record"], answer["prediction"]["model_version"])
    st.subheader("What if")
    what_if(contract.contract, answer)


page()
