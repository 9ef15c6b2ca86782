"""Each page of the web front end run by Streamlit's AppTest against a real `churnops serve` process (a model trained
in a fixture) and the real MLflow registry and monitoring runs it serves from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from churnops.settings import Settings
from tests.support.databases import count_rows
from tests.support.servers import churnops_api, free_port
from tests.support.settings import api_settings
from tests.support.ui import API_KEY, UI_APP
from tests.support.waiting import wait_until
from tests.ui.conftest import RunningApi

TELCO_LINES = 201  # the header and 200 customers of the real file


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(UI_APP), default_timeout=60)
    app.run()
    app.switch_page(f"views/{page}.py").run()
    assert not app.exception, [item.message for item in app.exception]
    return app


@pytest.fixture()
def api(running_api: RunningApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApi]:
    """The pages read their settings from the environment, as under `churnops ui`; Streamlit's caches start empty."""
    use_environment(monkeypatch, running_api.settings, running_api.url)
    with httpx.Client(base_url=running_api.url, timeout=30) as client:
        client.post("/admin/reload", headers={"X-API-Key": API_KEY}).raise_for_status()
    yield running_api


def use_environment(monkeypatch: pytest.MonkeyPatch, settings: Settings, api_url: str) -> None:
    for key, value in {**settings.as_environment(), "CHURNOPS_API_URL": api_url}.items():
        monkeypatch.setenv(key, value)
    st.cache_data.clear()
    st.cache_resource.clear()


def button(app: AppTest, label: str) -> Any:
    found = [item for item in app.button if item.label == label]
    assert found, f"no button '{label}' among {[item.label for item in app.button]}"
    return found[0]


def api_contract(api: RunningApi) -> dict[str, Any]:
    return dict(httpx.get(api.url + "/contract").json()["contract"])


def metric(app: AppTest, label: str) -> str:
    found = [item.value for item in app.metric if item.label == label]
    assert found, f"no metric '{label}' among {[item.label for item in app.metric]}"
    return str(found[0])


def chart_rows(app: AppTest) -> list[pd.DataFrame]:
    """The data of every Vega-Lite chart on the page, as Streamlit sends it to the browser."""
    frames = []
    for chart in app.get("vega_lite_chart"):
        for dataset in chart.proto.datasets:
            frames.append(pa.ipc.open_stream(dataset.data.data).read_all().to_pandas())
        if chart.proto.HasField("data"):
            frames.append(pa.ipc.open_stream(chart.proto.data.data).read_all().to_pandas())
    return frames


def test_predict_page_shows_what_the_api_answers_why_and_what_if(api: RunningApi) -> None:
    app = open_page("predict")
    contract = httpx.get(api.url + "/contract").json()
    columns = contract["contract"]["columns"]
    assert app.selectbox(key="customer:Contract").options == columns["Contract"]["values"]
    tenure = app.number_input(key="customer:tenure")
    assert (tenure.min, tenure.max) == (columns["tenure"]["min"], columns["tenure"]["max"])
    assert tenure.value == round(float(contract["example"]["tenure"]))  # defaults: the typical training customer

    app.selectbox(key="customer:Contract").set_value("Month-to-month")
    app.number_input(key="customer:tenure").set_value(2)
    app.button[0].click().run()
    assert not app.exception and not app.error, [item.value for item in app.error]

    customer = {name: app.session_state[f"customer:{name}"] for name in columns}
    expected = httpx.post(api.url + "/predict", json=customer).json()
    assert metric(app, "Churn probability") == f"{expected['churn_probability']:.4f}"
    assert metric(app, "Model") == f"{expected['model_name']} v{expected['model_version']}"
    assert metric(app, f"Prediction (threshold {expected['threshold']:.3f})") == expected["label"]
    assert any(item.value == "Why" for item in app.subheader)
    contributions = next(frame for frame in chart_rows(app) if "effect" in frame)
    explained = httpx.post(api.url + "/explain", json=customer).json()["contributions"]
    assert contributions["feature"].tolist() == [item["feature"] for item in explained[: len(contributions)]]

    assert app.selectbox(key="what_if:feature").value == "Contract"  # the contract type is the first thing people try
    prediction_id = app.session_state["answer"]["prediction"]["prediction_id"]  # the what-if value belongs to this prediction
    app.selectbox(key=f"what_if:value:Contract:{prediction_id}").set_value("Two year").run()
    changed = httpx.post(api.url + "/explain", json={**customer, "Contract": "Two year"}).json()
    assert not app.exception and not app.error, [item.value for item in app.error]
    assert metric(app, "Churn probability with Contract = Two year") == f"{changed['churn_probability']:.4f}"
    assert changed["churn_probability"] < expected["churn_probability"]  # a two-year contract lowers the risk
    sweep = next(frame for frame in chart_rows(app) if "churn probability" in frame)  # every contract type, drawn
    assert sweep["Contract"].tolist() == columns["Contract"]["values"]
    assert sweep.loc[sweep["Contract"] == "Two year", "churn probability"].iloc[0] == pytest.approx(changed["churn_probability"], abs=1e-12)


def test_score_file_page_reports_bad_rows_and_scores_the_rest(api: RunningApi, telco_csv: Path) -> None:
    lines = telco_csv.read_text().splitlines()[:TELCO_LINES]
    lines[3] = lines[3].replace("Month-to-month", "Weekly", 1)  # file line 4
    fields = lines[10].split(",")
    fields[5] = "many"  # tenure, file line 11
    lines[10] = ",".join(fields)
    before = count_rows(api.settings.store.url)[0]
    app = open_page("score_file")

    app.file_uploader[0].upload("customers.csv", ("\n".join(lines) + "\n").encode(), "text/csv").run()
    assert not app.exception and not app.error, [item.value for item in app.error]

    assert "2 of 200 rows break contract 'telco-customer-churn'" in app.warning[0].value
    problems = app.dataframe[0].value
    assert problems[["line", "column"]].values.tolist() == [[4, "Contract"], [11, "tenure"]]
    assert problems["problem"].str.contains("unknown category").iloc[0] and problems["problem"].str.contains("numbers").iloc[1]
    scored = app.dataframe[1].value
    assert len(scored) == 198 and scored["churn_probability"].is_monotonic_decreasing
    assert not {4, 11} & set(scored["line"])
    first = scored.iloc[0]
    again = httpx.post(api.url + "/explain", json={name: first[name] for name in api_contract(api)["columns"] if isinstance(first[name], str)}).json()
    assert first["churn_probability"] == pytest.approx(again["churn_probability"], abs=1e-9)  # what the API answers for that row
    assert metric(app, "Scored rows") == "198"
    wait_until(lambda: count_rows(api.settings.store.url)[0] == before + 198, 30, "the scored rows were not stored")  # through the API
    assert [button.proto.label for button in app.download_button] == ["Download scored CSV", "Download scored Parquet"]


def test_model_page_lists_versions_and_promotes_only_with_the_key(api: RunningApi) -> None:
    app = open_page("model")
    versions = app.dataframe[0].value
    assert versions["version"].tolist() == ["2", "1"] and "@champion" in versions["aliases"].iloc[0]
    assert {"ROC AUC", "PR AUC"} <= {item.label for item in app.metric}
    assert len(app.image) == 4  # ROC, precision-recall, calibration, confusion from the evaluation run
    assert not [button for button in app.button if button.label in ("Promote", "Roll back")]  # no key, no admin

    app.text_input(key="api_key").set_value("a wrong key").run()
    app.selectbox(key="model:promote").set_value("1")
    button(app, "Promote").click().run()
    assert not app.exception and "401" in app.error[0].value and "API key" in app.error[0].value
    assert httpx.get(api.url + "/model").json()["version"] == "2"

    app.text_input(key="api_key").set_value(f" {API_KEY}\n").run()  # pasted with a space and a newline
    app.selectbox(key="model:promote").set_value("1")
    button(app, "Promote").click().run()
    assert not app.exception, [item.message for item in app.exception]
    assert "Version 1 is champion and served." in [item.value for item in app.success]
    assert httpx.get(api.url + "/model").json()["version"] == "1"
    assert "@champion" in app.dataframe[0].value.set_index("version").loc["1", "aliases"]  # the table read again after the move

    button(app, "Roll back").click().run()
    assert not app.exception and any("version 1 -> version 2" in item.value for item in app.success)
    assert httpx.get(api.url + "/model").json()["version"] == "2"


def test_monitoring_page_draws_every_window(api: RunningApi) -> None:
    app = open_page("monitoring")
    assert not [item.value for item in app.error if "Could not" in item.value]
    assert app.caption[0].value.startswith("2 monitoring window(s)")
    titles = {frame.columns[-1] for frame in chart_rows(app)}
    assert {"ROC AUC", "share", "count", "ms", "PSI"} <= titles
    for frame in chart_rows(app):
        assert frame["window_end"].nunique() == 2  # one point per monitoring run
    assert app.subheader[0].value == "Alerts in the latest window"
    assert [button.proto.label for button in app.download_button] == ["Download the drift report (HTML)"]


def test_an_unreachable_api_is_a_banner_not_a_traceback(running_api: RunningApi, monkeypatch: pytest.MonkeyPatch) -> None:
    use_environment(monkeypatch, running_api.settings, f"http://127.0.0.1:{free_port()}")
    for page in ("predict", "score_file", "model", "monitoring"):
        app = open_page(page)
        assert "The prediction API is unreachable" in app.error[0].value and "CHURNOPS_API_URL" in app.error[0].value


def test_no_champion_shows_the_reason_from_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = api_settings(None, tmp_path)
    with churnops_api(settings, tmp_path / "api.log") as url:
        use_environment(monkeypatch, settings, url)
        reasons = httpx.get(url + "/ready").json()["reasons"]
        app = open_page("predict")
        assert "is not ready" in app.warning[0].value and reasons[0] in app.warning[0].value
        app.button[0].click().run()
        assert not app.exception and "503" in app.error[0].value
