"""Debian's /usr/bin/chromium (`make system-deps`), driven headless by Playwright without its own browser downloads,
in a fresh profile whose requests off 127.0.0.1 are aborted (the pages must work offline)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import BrowserContext, Page, Route, sync_playwright

from tests.support.prerequisites import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root on the CI machine; the sandbox refuses to start as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no update checks, safe-browsing lists or field trials going out
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def offline_page(profile: Path, viewport: tuple[int, int] = (1280, 900), downloads: Path | None = None) -> Iterator[tuple[Page, list[str]]]:
    """A page whose requests off 127.0.0.1 are aborted; yields it with the list of those attempted. JavaScript errors fail the test."""
    require(CHROMIUM.is_file(), f"Debian chromium not found at {CHROMIUM} (make system-deps installs it)")
    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        context: BrowserContext = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]},
            accept_downloads=downloads is not None,
            downloads_path=str(downloads) if downloads else None,
        )
        try:
            context.route("**/*", only_loopback)
            page = context.pages[0] if context.pages else context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page, blocked
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            context.close()
