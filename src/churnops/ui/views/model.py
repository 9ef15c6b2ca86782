"""The model: registry versions with aliases, test metrics, gate decisions, evaluation plots (from MLflow), and
promotion or rollback through the API's admin endpoints once an admin key is entered."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from churnops.errors import RegistryError
from churnops.ui import tracking_views
from churnops.ui.common import attempt, client, readiness_banner, settings

VERSION_COLUMNS = {
    "version": "version",
    "aliases": "aliases",
    "family": "family",
    "test_roc_auc": "test ROC AUC",
    "test_pr_auc": "test PR AUC",
    "gate_decision": "gate",
    "gate_reasons": "gate reasons",
    "promotion": "promotion",
    "created": "created",
    "data_source": "data",
}
HEADLINE_METRICS = {
    "test_roc_auc": "ROC AUC",
    "test_pr_auc": "PR AUC",
    "test_f1": "F1",
    "test_precision": "Precision",
    "test_recall": "Recall",
    "test_brier": "Brier",
}


@st.cache_data(ttl=10, show_spinner="Reading the registry ...")
def versions() -> pd.DataFrame:
    return tracking_views.versions(settings())


@st.cache_data(ttl=300, show_spinner="Fetching the evaluation from MLflow ...")
def evaluation(run_id: str) -> tracking_views.Evaluation:
    return tracking_views.evaluation(settings(), run_id)


def show_evaluation(row: pd.Series) -> None:
    run_id = row["evaluation_run_id"]
    st.subheader(f"Version {row['version']}: evaluation")
    if row["gate_reasons"]:
        st.write(f"**Gate: {row['gate_decision'] or '-'}**: {row['gate_reasons']}")
    if not run_id:
        st.info("This version has no evaluation run recorded.")
        return
    found = attempt(lambda: evaluation(run_id), "read the evaluation run")
    if found is None:
        return
    headline = [name for name in HEADLINE_METRICS if name in found.metrics]
    for column, name in zip(st.columns(max(len(headline), 1)), headline, strict=False):
        column.metric(HEADLINE_METRICS[name], f"{found.metrics[name]:.4f}")
    with st.expander("Every test metric"):
        st.dataframe(pd.DataFrame({"metric": list(found.metrics), "value": list(found.metrics.values())}), hide_index=True)
    grid = st.columns(2)
    for index, (title, image) in enumerate(found.plots.items()):
        with grid[index % 2]:
            st.image(image, caption=title)


def admin(table: pd.DataFrame) -> None:
    st.subheader("Promote or roll back")
    api_key = st.text_input("Admin API key (CHURNOPS_API_KEY of the API)", type="password", key="api_key")
    if not api_key.strip():
        st.caption("Promotion and rollback go through the API's admin endpoints: enter its key to use them (the API checks it on each action).")
        return
    left, right = st.columns(2)
    with left.form("promote"):
        version = st.selectbox("Version to make champion (bypasses the gate; recorded)", table["version"].tolist(), key="model:promote")
        reason = st.text_input("Reason", value="promoted from the web UI")
        if st.form_submit_button("Promote"):
            done = attempt(lambda: client().promote(str(version), reason, api_key), "promote")
            if done:
                served = done["model"]["version"]
                note = "and served" if served == str(version) else f"(the API serves version {served}, the version of its alias)"
                changed(f"Version {version} is champion {note}.")
    with right:
        st.write("Move champion back to the previous champion.")
        if st.button("Roll back"):
            done = attempt(lambda: client().rollback(api_key), "roll back")
            if done:
                changed(
                    f"Champion: version {done['from_version']} -> version {done['to_version']}; the API serves version {done['model']['version']}."
                )


def changed(message: str) -> None:
    """The registry moved: read it again (the table above was drawn before the move) and say what happened."""
    st.session_state["model:done"] = message
    st.cache_data.clear()
    st.rerun()


def page() -> None:
    st.title("Model")
    done = st.session_state.pop("model:done", None)
    if done:
        st.success(done, icon=":material/check_circle:")
    state = readiness_banner()
    if state and state.get("model_version"):
        info = attempt(lambda: client().model(), "read the served model")
        if info:
            st.write(
                f"The API serves **{info['name']} version {info['version']}** (@{info['alias']}, {info['family'] or 'unknown family'}, "
                f"{info['inference']} path, threshold {info['threshold']:.3f}), loaded {info['loaded_at']}."
            )
    try:
        table = attempt(versions, "read the registry", passing=(RegistryError,))
    except RegistryError as error:  # nothing registered yet: not a failure, a first step to take
        st.info(str(error), icon=":material/info:")
        return
    if table is None or table.empty:
        return
    st.subheader("Versions")
    st.dataframe(table[list(VERSION_COLUMNS)].rename(columns=VERSION_COLUMNS), hide_index=True, width="stretch")
    champion = table.index[table["aliases"].str.contains("@champion")]
    choice = st.selectbox("Version", table["version"].tolist(), index=int(champion[0]) if len(champion) else 0, key="model:version")
    show_evaluation(table[table["version"] == choice].iloc[0])
    admin(table)


page()
