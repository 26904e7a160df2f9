"""Debian's chromium through Playwright (nothing downloads a browser): one place that launches it, with the
network blocked except for what a test allows, and page errors collected."""

from __future__ import annotations

import contextlib
import shutil

import pytest

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


def chromium_or_skip() -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    return chromium


class Visit:
    """A page plus what it tried: ``requested`` (blocked URLs) and ``errors`` (uncaught page errors)."""

    def __init__(self, page):
        self.page = page
        self.requested: list[str] = []
        self.errors: list[str] = []


@contextlib.contextmanager
def browser_page(width: int = 1280, height: int = 900, *, allow=("file://",)):
    """A fresh page of the given viewport; requests to anything but ``allow`` prefixes are aborted and kept."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            visit = Visit(page)

            def route(r):
                if r.request.url.startswith(tuple(allow)):
                    return r.continue_()
                visit.requested.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            page.on("pageerror", lambda e: visit.errors.append(str(e)))
            yield visit
        finally:
            browser.close()
