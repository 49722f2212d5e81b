"""The UI's health of an environment over a metadata store on PostgreSQL: read once for
page views close together (kept a few seconds), read again once those seconds pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event

from headgate.server.ui import health
from tests.server.hubs import make_project, serving

CHECK_RESULTS = "check_results"  # a table only the health reads for these pages


@pytest.fixture
def hub(
    tmp_path: Path, postgres_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[httpx.Client, list[str]]]:
    monkeypatch.setenv("HEADGATE_STATE_URL", postgres_url)
    monkeypatch.setenv("HEADGATE_STATE_SCHEMA", pg_schema)
    root = make_project(tmp_path / "shop")
    with serving(root, ui=True) as served:
        statements: list[str] = []

        def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
            statements.append(statement)

        engine = served.hub.store.engine
        event.listen(engine, "before_cursor_execute", seen)
        headers = {"Authorization": f"Bearer {served.token}"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=60) as client:
            yield client, statements
        event.remove(engine, "before_cursor_execute", seen)


def health_reads(client: httpx.Client, statements: list[str], path: str) -> int:
    """The store statements a page view made that read check results (the health's)."""
    statements.clear()
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    assert "prod" in page.text
    return sum(1 for s in statements if CHECK_RESULTS in s)


def test_page_views_close_together_read_the_health_once(
    hub: tuple[httpx.Client, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, statements = hub
    monkeypatch.setattr(health, "HEALTH_SECONDS", 600.0)  # no view here comes 10 minutes late
    assert health_reads(client, statements, "/lineage") > 0
    assert health_reads(client, statements, "/lineage") == 0
    assert health_reads(client, statements, "/") > 0  # the overview's, with its deploys
    assert health_reads(client, statements, "/") == 0


def test_once_its_seconds_pass_the_health_is_read_again(
    hub: tuple[httpx.Client, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, statements = hub
    monkeypatch.setattr(health, "HEALTH_SECONDS", 0.0)
    assert health_reads(client, statements, "/lineage") > 0
    assert health_reads(client, statements, "/lineage") > 0
