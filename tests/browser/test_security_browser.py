"""Signing in and what the hub refuses, in a real Chromium: a viewer's refused change, a
forged cross-site form, a token shown once, a secret on no page."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import RunningHub, serve, sign_in
from tests.server.hubs import free_port, make_project

pytestmark = pytest.mark.browser

VIEWER, VIEWER_PASSWORD = "vera", "reads everything but never writes"
SECRET = "s3cr3t-in-the-browser-7731"
PAGES = [
    "/",
    "/lineage",
    "/runs",
    "/runs/1",
    "/environments",
    "/environments/prod",
    "/review",
    "/deliveries",
    "/audit",
    "/tokens",
    "/models/staging.orders",
]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    from headgate.facade import Project

    root = make_project(tmp_path_factory.mktemp("secured") / "shop")
    with Project.load(root) as project:
        project.add_user(VIEWER, VIEWER_PASSWORD, roles=[("viewer", "*")])
        project.secret_set("SHOP_PASSWORD", SECRET, environment="prod")
    yield from serve(root)


def csrf_of(page: Any) -> str:
    value: str = page.locator("form.signout input[name=csrf]").get_attribute("value")
    return value


def test_a_viewer_signs_in_sees_no_change_button_and_is_refused_anyway(
    browser: Any, secured: RunningHub
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(secured.url + "/runs")
    assert page.url.startswith(secured.url + "/signin")  # not signed in: the sign-in page
    page.fill("#username", VIEWER)
    page.fill("#password", "not the password at all")
    page.get_by_role("button", name="Sign in").click()
    assert "wrong user name or password" in page.locator(".notice.bad").inner_text()
    sign_in(page, secured.url, VIEWER, VIEWER_PASSWORD)
    cookie = next(c for c in context.cookies() if c["name"] == "headgate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.goto(secured.url + "/runs")
    assert page.get_by_role("button", name="Start run").count() == 0
    page.goto(secured.url + "/environments")
    assert page.get_by_role("button", name="Create").count() == 0
    answer = page.request.post(
        secured.url + "/environments",
        form={"form": "1", "name": "dev-vera", "source": "prod", "csrf": csrf_of(page)},
    )
    assert answer.status == 403 and "may not environments:create" in answer.text()
    page.get_by_role("button", name="Sign out").click()
    page.goto(secured.url + "/runs")
    assert page.url.startswith(secured.url + "/signin")  # the session really ended
    context.close()


def test_a_form_forged_on_another_site_is_refused(page: Any, secured: RunningHub) -> None:
    sign_in(page, secured.url)
    forged = (
        f'<form id="f" method="post" action="{secured.url}/environments">'
        '<input name="form" value="1"><input name="name" value="dev-forged">'
        '<input name="source" value="prod"></form>'
        "<script>document.getElementById('f').submit()</script>"
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(forged)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", port), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        with page.expect_response(lambda r: r.url.endswith("/environments")) as answered:
            page.goto(f"http://127.0.0.1:{port}/")
        assert answered.value.status == 403
        assert "another site" in page.content() or "CSRF" in page.content()
    finally:
        evil.shutdown()
    page.goto(secured.url + "/environments")
    assert "dev-forged" not in page.content()


def test_a_token_is_shown_once_and_a_secret_on_no_page(page: Any, secured: RunningHub) -> None:
    sign_in(page, secured.url)
    page.goto(secured.url + "/tokens")
    page.fill("#t-name", "laptop")
    page.get_by_role("button", name="Create token").click()
    value = page.locator("#token-value").inner_text().strip()
    assert value.startswith("hg_")
    page.goto(secured.url + "/tokens")
    assert "laptop" in page.content() and value not in page.content()
    for path in PAGES:
        page.goto(secured.url + path)
        assert SECRET not in page.content(), path
    page.goto(secured.url + "/audit?action=token.create")
    assert "laptop" in page.locator("table.data").inner_text()
