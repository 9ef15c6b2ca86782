"""Monitoring: ROC AUC on feedback, drift, PSI per feature, volume and latency over the `churn-monitoring` runs,
the latest window's alerts, and its Evidently report."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from churnops.ui import tracking_views
from churnops.ui.common import attempt, readiness_banner, settings

SHOWN_PSI_FEATURES = 8


@st.cache_data(ttl=15, show_spinner="Reading the monitoring runs from MLflow ...")
def history() -> pd.DataFrame:
    return tracking_views.monitoring_history(settings())


@st.cache_data(ttl=300, show_spinner=False)
def report(run_id: str) -> bytes | None:
    return tracking_views.drift_report(settings(), run_id)


def line_chart(frame: pd.DataFrame, columns: list[str], title: str, unit: str) -> None:
    present = [column for column in columns if column in frame and frame[column].notna().any()]
    if not present:
        st.caption(f"{title}: not measured yet.")
        return
    long = frame.melt("window_end", present, var_name="series", value_name=unit).dropna()
    chart = (
        alt.Chart(long, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("window_end:T", title="window end (UTC)", axis=alt.Axis(format="%m-%d %H:%M", labelAngle=-30)),
            y=alt.Y(f"{unit}:Q"),
            color=alt.Color("series:N", title=None),
            tooltip=[alt.Tooltip("window_end:T", format="%Y-%m-%d %H:%M:%S"), "series:N", alt.Tooltip(f"{unit}:Q", format=".4f")],
        )
    )
    st.altair_chart(chart, width="stretch")


def alerts(latest: pd.Series) -> None:
    messages: dict[str, str] = latest["alert_messages"]
    st.subheader("Alerts in the latest window")
    if not messages:
        st.success(f"No alert for the window ending {latest['window_end']:%Y-%m-%d %H:%M UTC}.", icon=":material/check_circle:")
    for rule, message in messages.items():
        st.error(f"**{rule}**: {message}", icon=":material/notifications_active:")


def latest_report(latest: pd.Series) -> None:
    st.subheader("Latest Evidently report")
    ui = tracking_views.mlflow_ui_url(settings())
    if ui:
        st.markdown(f"[Open the run in the MLflow UI]({ui}/#/experiments/{latest['experiment_id']}/runs/{latest['run_id']}/artifacts)")
    html = attempt(lambda: report(latest["run_id"]), "fetch the drift report")
    if html is None:
        st.caption("The latest window had too few predictions for a drift report.")
        return
    st.download_button("Download the drift report (HTML)", html, f"drift-report-{latest['run_id'][:8]}.html", "text/html")


def page() -> None:
    st.title("Monitoring")
    readiness_banner()
    frame = attempt(history, "read the monitoring runs")
    if frame is None:
        return
    if frame.empty:
        st.info(f"No monitoring runs in experiment '{settings().monitoring.experiment}' yet: run `churnops monitor --window 1d`.")
        return
    latest = frame.iloc[-1]
    st.caption(
        f"{len(frame)} monitoring window(s), the latest ending {latest['window_end']:%Y-%m-%d %H:%M UTC} (model version {latest['model_version']})."
    )
    left, right = st.columns(2)
    with left:
        line_chart(frame, ["ROC AUC on feedback"], "ROC AUC on feedback", "ROC AUC")
        line_chart(frame, ["Predictions", "Requests"], "Volume per window", "count")
    with right:
        line_chart(frame, ["Share of drifted features"], "Share of drifted features", "share")
        line_chart(frame, ["Latency p50 (ms)", "Latency p95 (ms)"], "Latency", "ms")
    psi = [column for column in frame.columns if column.startswith("psi:")]
    if psi:
        ranked = frame[psi].iloc[-1].sort_values(ascending=False)
        top = ranked.index[:SHOWN_PSI_FEATURES].tolist()
        line_chart(
            frame.rename(columns={column: column.removeprefix("psi:") for column in psi}),
            [name.removeprefix("psi:") for name in top],
            f"PSI of the {len(top)} most shifted features",
            "PSI",
        )
        with st.expander("PSI of every feature in the latest window"):
            st.dataframe(pd.DataFrame({"feature": [name.removeprefix("psi:") for name in ranked.index], "PSI": ranked.to_numpy()}), hide_index=True)
    alerts(latest)
    latest_report(latest)


page()
