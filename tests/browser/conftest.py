"""One Chromium for the whole browser session (Debian's, never a downloaded build), a
hub on a free loopback port (tests/server/hubs.py's), pages signed in to it, and a
screenshot of the page whenever a test fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.hubs import ADMIN, ADMIN_PASSWORD, Served, serving


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        page = getattr(item, "funcargs", {}).get("page")
        folder = getattr(item, "funcargs", {}).get("tmp_path")
        if page is not None and folder is not None:
            shot = Path(folder) / "screenshots" / f"{item.name}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(shot), full_page=True)
                report.sections.append(("screenshot", str(shot)))
            except Exception as exc:  # a page that crashed has nothing to show
                report.sections.append(("screenshot", f"none: {exc}"))


@pytest.fixture
def page(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page at a laptop's width; a screenshot of every page it showed is kept.
    When the test uses a ``hub``, the page is signed in to it as its administrator."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    shown = context.new_page()
    shown.set_default_timeout(20_000)
    if "hub" in request.fixturenames:
        sign_in(shown, request.getfixturevalue("hub").url)
    try:
        yield shown
    finally:
        context.close()


RunningHub = Served  # a hub with its UI: .url, .hub (the Hub itself), .token, .headers


def serve(root: Path) -> Iterator[Served]:
    """The hub's app with its UI, from tests/server/hubs.py (an admin token and user)."""
    with serving(root, ui=True) as served:
        yield served


def sign_in(page: Any, url: str, user: str = ADMIN, password: str = ADMIN_PASSWORD) -> None:
    """Sign ``page`` in through the sign-in form, as a person would."""
    page.goto(url + "/signin")
    page.fill("#username", user)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")
