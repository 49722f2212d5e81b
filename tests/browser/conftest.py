"""One Chromium for the whole browser session (Debian's, never a downloaded build), a
hub on a free loopback port, and a screenshot of the page whenever a test fails."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import import_or_require, require_service
from tests.server.hubs import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = import_or_require("playwright.sync_api", "browser tests")
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        require_service("Chromium", CHROMIUM, "not installed (make chromium installs it)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=found, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


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
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh page at a laptop's width; a screenshot of every page it showed is kept."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    shown = context.new_page()
    shown.set_default_timeout(20_000)
    try:
        yield shown
    finally:
        context.close()


class RunningHub:
    def __init__(self, url: str, hub: Any) -> None:
        self.url = url
        self.hub = hub


def serve(root: Path) -> Iterator[RunningHub]:
    """The hub's app with its UI under Uvicorn; the hub itself reachable by the test."""
    import uvicorn

    from headgate.server.app import create_app

    app = create_app(root)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="browser-hub", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hub did not start")
        time.sleep(0.02)
    try:
        yield RunningHub(f"http://127.0.0.1:{port}", app.state.hub)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
