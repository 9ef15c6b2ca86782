"""The docs and `GET /` on a real `churnops serve`; /docs and /redoc in a real headless Chromium with every non-loopback request blocked.

The browser is Debian's /usr/bin/chromium (`make system-deps`), driven by Playwright without its own
browser downloads. Screenshots of both pages land in the test's tmp_path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from churnops.settings import Settings
from tests.support import browser
from tests.support.registries import TrainedRegistry
from tests.support.servers import churnops_api
from tests.support.settings import api_settings
from tests.support.waiting import wait_until

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
LINKS = {
    "docs": "/docs",
    "redoc": "/redoc",
    "openapi": "/openapi.json",
    "model": "/model",
    "health": "/health",
    "ready": "/ready",
    "metrics": "/metrics",
}


@pytest.fixture(scope="module")
def server(trained_registry: TrainedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    folder = tmp_path_factory.mktemp("docs-api")
    settings = api_settings(trained_registry, folder)
    with churnops_api(settings, folder / "api.log") as url:
        yield url, settings


@pytest.fixture()
def client(server: tuple[str, Settings]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=30) as http:
        yield http


@pytest.fixture()
def offline_page(tmp_path: Path) -> Iterator[tuple[Page, list[str]]]:
    with browser.offline_page(tmp_path / "profile") as opened:
        yield opened


def test_docs_render_offline_and_try_it_out_predicts(
    offline_page: tuple[Page, list[str]], server: tuple[str, Settings], trained_registry: TrainedRegistry, tmp_path: Path
) -> None:
    page, blocked = offline_page
    url, settings = server
    page.goto(url + "/docs")
    predict = page.locator(".opblock-post").filter(has=page.locator(".opblock-summary-path[data-path='/predict']"))
    expect(predict).to_be_visible(timeout=30_000)
    expect(page.locator(".opblock-summary-path[data-path='/model']")).to_be_visible()
    page.screenshot(path=tmp_path / "docs.png", full_page=True)

    predict.locator(".opblock-summary").click()
    predict.get_by_role("button", name="Try it out").click()
    predict.get_by_role("button", name="Execute").click()
    live = predict.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).to_have_text("200", timeout=30_000)
    body = live.locator(".response-col_description .microlight").first
    expect(body).to_contain_text("churn_probability")
    expect(body).to_contain_text(f'"model_version": "{trained_registry.champion}"')
    page.screenshot(path=tmp_path / "docs-try-it-out.png", full_page=True)
    assert blocked == [], f"/docs tried to reach beyond the service: {blocked}"

    # The pages, their assets and the spec stay out of the request log; the prediction made from the page is in it.
    engine = sa.create_engine(settings.store.url)

    def logged() -> list[str]:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(sa.text("SELECT endpoint FROM requests"))]

    wait_until(lambda: "/predict" in logged(), 10, "the prediction made from /docs never reached the request log")
    assert set(logged()) == {"/predict"}, logged()
    engine.dispose()


def test_redoc_renders_offline(offline_page: tuple[Page, list[str]], server: tuple[str, Settings], client: httpx.Client, tmp_path: Path) -> None:
    page, blocked = offline_page
    operation = client.get("/openapi.json").json()["paths"]["/predict"]["post"]
    page.goto(server[0] + "/redoc")
    title = page.locator("h2").filter(has=page.locator(f"a[href$='/operation/{operation['operationId']}']"))
    expect(title).to_be_visible(timeout=30_000)
    expect(title).to_have_text(operation["summary"])
    expect(page.get_by_role("heading", name=re.compile("churnops prediction API"))).to_be_visible()
    page.screenshot(path=tmp_path / "redoc.png", full_page=True)
    assert blocked == [], f"/redoc tried to reach beyond the service: {blocked}"


def test_docs_pages_load_only_local_assets(client: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.headers["content-security-policy"].startswith("default-src 'self' "), "the browser may load nothing from elsewhere"
        html = response.text
        assert "://" not in html.replace("http://www.w3.org", ""), f"{page} names an outside URL"
        assets = re.findall(r"""(?:src|href)=["']?([^"' >]+)""", html)
        assert assets and all(asset.startswith("/docs/assets/") for asset in assets), assets
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 500, asset
    assert "oauth2" in client.get("/docs/oauth2-redirect").text


def test_index_names_the_service_the_model_and_links_that_answer(client: httpx.Client, trained_registry: TrainedRegistry) -> None:
    response = client.get("/")  # httpx sends Accept: */*, as curl does: JSON
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["service"] == "churnops prediction API"
    assert body["model"] == {
        "name": "churn-classifier",
        "alias": "champion",
        "version": trained_registry.champion,
        "inference": "onnx",
        "unavailable": None,
    }
    assert body["links"] == LINKS
    for link in LINKS.values():
        assert client.get(link).status_code == 200, link
    schema = client.get("/openapi.json").json()
    assert schema["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ServiceIndex"}


def test_index_sends_a_browser_to_the_docs(client: httpx.Client) -> None:
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 307
    assert response.headers["location"] == "/docs"
    assert client.get("/", headers={"Accept": "application/json, text/html;q=0.9"}).status_code == 200


def test_index_says_why_no_model_is_served(trained_registry: TrainedRegistry, tmp_path: Path) -> None:
    settings = api_settings(trained_registry, tmp_path, serve_alias="staging")  # no version has it (quicker than a new registry)
    with churnops_api(settings, tmp_path / "api.log") as url:
        response = httpx.get(url + "/", timeout=30)
        docs = httpx.get(url + "/docs", timeout=30)
    assert response.status_code == 200, response.text
    model = response.json()["model"]
    assert model["alias"] == "staging" and model["version"] is None and model["inference"] is None
    assert "'staging'" in model["unavailable"] and "churnops pipeline" in model["unavailable"]
    assert docs.status_code == 200, "the docs do not need a model"
