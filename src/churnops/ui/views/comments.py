"""Customer comments: one comment analysed by the API's LLM service (sentiment, churn risk, reasons, summary)."""

from __future__ import annotations

import streamlit as st

from churnops.comments.analysis import REASONS
from churnops.ui.common import attempt, client, settings

EXAMPLE = "Third outage this week and support kept me on hold for an hour. I'm looking at other providers."

st.title("Customer comments")
st.caption(
    "A comment is analysed by the LLM behind the API (`POST /comments/analyze`, with the production prompt from the MLflow "
    "prompt registry), stored with the prompt version that produced it, and traced in MLflow."
)
with st.form("comment"):
    text = st.text_area("Comment", value=EXAMPLE, height=140, max_chars=4000, key="comment:text")
    left, right = st.columns(2)
    customer_id = left.text_input("Customer id (optional)", key="comment:customer")
    comment_id = right.text_input("Comment id (optional)", key="comment:id")
    sent = st.form_submit_button("Analyse", type="primary")

if sent:
    body = {
        "text": text,
        **({"customer_id": customer_id.strip()} if customer_id.strip() else {}),
        **({"comment_id": comment_id.strip()} if comment_id.strip() else {}),
    }
    with st.spinner("The model is reading the comment ..."):
        answer = attempt(lambda: client().analyze_comment(body), "analyse the comment")
    if answer is not None:
        st.session_state["comment:answer"] = answer

answer = st.session_state.get("comment:answer")
if answer is not None:
    if not answer["ok"]:
        st.warning(f"The model gave no valid analysis after {answer['attempts']} attempts: {answer['error']}", icon=":material/warning:")
    else:
        sentiment, risk, reasons = st.columns(3)
        sentiment.metric("Sentiment", answer["sentiment"])
        risk.metric("Churn risk", answer["churn_risk"])
        reasons.metric("Reasons", len(answer["reasons"]))
        st.markdown(" ".join(f"`{reason}`" for reason in answer["reasons"]) or "no reason given")
        st.write(answer["summary"])
    stored = "stored" if answer["stored"] else "not stored (the store was unreachable)"
    trace = f"MLflow trace `{answer['trace_id']}`" if answer["trace_id"] else "not traced"
    st.caption(
        f"{answer['model']}, prompt v{answer['prompt_version']}, {answer['latency_ms'] / 1000:.1f} s, "
        f"{answer['attempts']} attempt(s); {stored}; {trace} (`churnops comments traces --all` lists them)"
    )
    if settings().ui.mlflow_ui_url or settings().tracking_uri.startswith("http"):
        st.caption(f"Traces: {settings().ui.mlflow_ui_url or settings().tracking_uri} → experiment `{settings().comments.experiment}` → Traces")
with st.expander("The reasons an analysis can give"):
    st.write(", ".join(reason.replace("_", " ") for reason in REASONS))
