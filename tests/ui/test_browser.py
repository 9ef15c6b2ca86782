"""The web front end in a real headless Chromium (Debian's, driven by Playwright), served by a real `churnops ui`
calling a real `churnops serve`; every request off 127.0.0.1 is blocked. Screenshots land in each test's tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from tests.support import browser
from tests.support.ui import streamlit_server
from tests.ui.conftest import RunningApi

LOAD_TIMEOUT = 60_000  # ms: the first page load starts the app's Python side
# Measured inside the page, so no test-side polling interval is counted: the submit click to the first probability drawn.
CLICK_TO_PROBABILITY = """() => new Promise(resolve => {
    const start = performance.now();
    const seen = new MutationObserver(() => {
        if (document.querySelector("[data-testid=stMetricValue]")) { seen.disconnect(); resolve(performance.now() - start); }
    });
    seen.observe(document.body, {childList: true, subtree: true, characterData: true});
    document.querySelector("[data-testid=stBaseButton-primaryFormSubmit]").click();
})"""
# The next customer's answer, once the page's code is loaded: until the first probability shown changes.
CLICK_TO_NEXT_PROBABILITY = """() => new Promise(resolve => {
    const value = () => document.querySelector("[data-testid=stMetricValue]")?.textContent;
    const before = value(), start = performance.now();
    const seen = new MutationObserver(() => {
        if (value() && value() !== before) { seen.disconnect(); resolve(performance.now() - start); }
    });
    seen.observe(document.body, {childList: true, subtree: true, characterData: true});
    document.querySelector("[data-testid=stBaseButton-primaryFormSubmit]").click();
})"""


@pytest.fixture(scope="module")
def ui_url(running_api: RunningApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("ui-server")
    with streamlit_server(running_api.settings, running_api.url, folder / "ui.log") as url:
        yield url


@pytest.fixture()
def page(tmp_path: Path) -> Iterator[Page]:
    with browser.offline_page(tmp_path / "profile", viewport=(1400, 2600), downloads=tmp_path / "downloads") as (opened, blocked):
        yield opened
        assert blocked == [], f"the front end tried to reach beyond this machine: {blocked}"
        expect(opened.locator("[data-testid=stException]")).to_have_count(0)  # a Python error drawn on the page


def metric_value(page: Page, label: str) -> str:
    metric = page.locator("[data-testid=stMetric]").filter(has=page.get_by_text(label, exact=True))
    expect(metric).to_be_visible(timeout=LOAD_TIMEOUT)
    return metric.locator("[data-testid=stMetricValue]").inner_text().strip()


def test_the_form_answers_what_the_api_answers(page: Page, ui_url: str, running_api: RunningApi, tmp_path: Path) -> None:
    page.goto(ui_url)
    submit = page.get_by_role("button", name="Predict churn")
    expect(submit).to_be_visible(timeout=LOAD_TIMEOUT)
    example = httpx.get(running_api.url + "/contract").json()["example"]

    contract_type = page.get_by_role("combobox", name="Contract", exact=True)
    expect(contract_type).to_be_visible(timeout=LOAD_TIMEOUT)  # the widgets' code loads after the page
    contract_type.click()
    page.get_by_role("option", name="One year", exact=True).click()
    expect(contract_type).to_have_value("One year")
    page.get_by_label("tenure", exact=True).fill("3")
    page.screenshot(path=tmp_path / "predict-form.png", full_page=True)

    milliseconds = page.evaluate(CLICK_TO_PROBABILITY)
    shown = metric_value(page, "Churn probability")
    print(f"\nsingle prediction in the browser, click to probability shown: {milliseconds:.0f} ms")  # reported, not asserted

    customer = {**example, "Contract": "One year", "tenure": 3}
    customer.pop("customerID", None)
    expected = httpx.post(running_api.url + "/predict", json=customer).json()
    assert shown == f"{expected['churn_probability']:.4f}"
    expect(page.get_by_text("Why", exact=True)).to_be_visible()
    expect(page.locator("[data-testid=stVegaLiteChart]").first).to_be_visible()
    page.screenshot(path=tmp_path / "predict-answer.png", full_page=True)

    page.get_by_label("tenure", exact=True).fill("40")  # the next customer, on a loaded page
    next_milliseconds = page.evaluate(CLICK_TO_NEXT_PROBABILITY)
    following = httpx.post(running_api.url + "/predict", json={**customer, "tenure": 40}).json()
    assert metric_value(page, "Churn probability") == f"{following['churn_probability']:.4f}"
    print(f"the next customer's prediction on the loaded page: {next_milliseconds:.0f} ms")  # reported, not asserted
    (tmp_path / "timing.txt").write_text(f"first {milliseconds:.1f} ms, next {next_milliseconds:.1f} ms\n")


def test_the_whole_telco_file_is_scored(page: Page, ui_url: str, telco_csv: Path, tmp_path: Path) -> None:
    rows = len(pd.read_csv(telco_csv))
    page.goto(ui_url + "/score_file")
    chooser = page.locator("[data-testid=stFileUploaderDropzoneInput]")
    expect(page.get_by_text("A CSV of customers")).to_be_visible(timeout=LOAD_TIMEOUT)
    chooser.set_input_files(telco_csv)
    expect(page.get_by_text(f"{rows} customers scored and stored")).to_be_visible(timeout=180_000)
    assert metric_value(page, "Scored rows") == str(rows)
    expect(page.locator("[data-testid=stDataFrame]")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid=stVegaLiteChart]")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.wait_for_timeout(1000)  # the table's canvas and the histogram finish drawing
    page.screenshot(path=tmp_path / "score-file.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download scored CSV").click()
    scored = pd.read_csv(download.value.path())
    assert len(scored) == rows and scored["churn_probability"].is_monotonic_decreasing


def test_the_monitoring_page_draws_the_windows(page: Page, ui_url: str, tmp_path: Path) -> None:
    page.goto(ui_url + "/monitoring")
    chart = page.locator("[data-testid=stVegaLiteChart]").first
    expect(chart).to_be_visible(timeout=LOAD_TIMEOUT)
    points = chart.locator("g.mark-symbol path")
    expect(points.nth(1)).to_be_attached(timeout=30_000)
    assert points.count() >= 2
    expect(page.get_by_text("Alerts in the latest window")).to_be_visible()
    # opened by its URL, the page still has the app's navigation: the titles, not the scripts' file names
    navigation = page.locator("[data-testid=stSidebarNav]")
    expect(navigation).to_contain_text("Customer comments")
    expect(navigation).not_to_contain_text("score file")
    page.wait_for_timeout(1000)  # every chart drawn
    page.screenshot(path=tmp_path / "monitoring.png", full_page=True)
