"""Secrets with distinctive values, then every command and every page, failures that echo
connection strings included: no output, answer, page or byte of the metadata store
shows a value.

Each command is a process of its own, forked from one that imported headgate once
(forked_cli), 200 columns wide so that no value is cut by a line's end."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from headgate import Project
from headgate.server.permissions import app_routes
from tests.runtime.forked_cli import ForkedCli
from tests.server.hubs import serving
from tests.support import write_project

PASSWORD = "Zq9distinctPW4471"
URL = f"postgresql://shop:{PASSWORD}@127.0.0.1:1/shop"  # nothing listens on port 1
TOKEN = "api-token-Xk42-never-shown"
VALUES = (PASSWORD, TOKEN)
FILES = {
    "data/orders.csv": "id,amount\n1,10\n2,20\n",
    "sources/files.yml": "type: files\ntables:\n  orders: {path: data/orders.csv, format: csv}\n",
    "sources/shop_db.yml": (
        "type: postgres\nurl: ${secret:SHOP_DB_URL}\ntables:\n  customers: {table: public.customers}\n"
    ),
    "models/totals.sql": "select sum(amount) as total from files.orders",
    "models/customers.sql": "select count(*) as n from shop_db.customers",
}
COMMANDS = [
    ("run",),
    ("run", "--select", "customers"),
    ("--debug", "run", "--select", "customers"),
    ("status",),
    ("runs",),
    ("runs", "1", "--json"),
    ("failures", "customers"),
    ("plan",),
    ("plan", "--json"),
    ("test",),
    ("secrets", "list", "--json"),
    ("audit", "--json"),
    ("audit", "export"),
    ("env", "list"),
    ("users", "list", "--json"),
    ("tokens", "list", "--json"),
]


def outputs_of(root: Path, commands: list[tuple[str, ...]], scratch: Path) -> dict[str, str]:
    """Each command's standard output and error, by its arguments."""
    outputs = {}
    with ForkedCli(env={"COLUMNS": "200"}) as cli:
        for args in commands:
            cli.run(root, *args, output=scratch)
            outputs[" ".join(args)] = scratch.read_text()
    return outputs


def test_no_command_page_answer_or_stored_byte_shows_a_secret(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    root = write_project(tmp_path / "p", FILES)
    with Project.load(root) as project:
        project.secret_set("SHOP_DB_URL", URL, environment="prod")
        project.secret_set("API_TOKEN", TOKEN)
    outputs = outputs_of(root, COMMANDS, tmp_path / "output.txt")
    assert "connecting to PostgreSQL at 127.0.0.1:1/shop failed" in outputs["run"]  # echoed
    with (
        serving(root, ui=True) as served,
        httpx.Client(base_url=served.url, headers=served.headers, timeout=120) as client,
    ):
        for method, template, _ in app_routes(served.app):
            if method != "GET" or "{" in template:
                continue
            outputs[f"GET {template}"] = client.get(template).text
        for path in (
            "/runs/1",
            "/api/v1/runs/1",
            "/api/v1/runs/2?specs=true",
            "/api/v1/checks",
            "/api/v1/environments/prod/status",
            "/models/shop_db.customers",
            "/api/v1/models/customers",
        ):
            outputs[path] = client.get(path).text
        failed = client.post("/api/v1/query", json={"sql": "select * from shop_db.customers"})
        outputs["query"] = failed.text
    shown = [name for name, text in outputs.items() if any(v in text for v in VALUES)]
    assert shown == []
    stored = b"".join(
        p.read_bytes()
        for p in (root / ".headgate").rglob("*")
        if p.is_file() and p.name not in ("secret.key", "session.key")
    )
    assert all(v.encode() not in stored for v in VALUES)
