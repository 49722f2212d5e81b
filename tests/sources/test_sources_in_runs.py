"""Database and API sources loaded by `headgate run`, as tasks of the same DAG as the models."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from headgate import Project
from headgate.console import RecordingConsole
from tests.sources.conftest import Api, Reply, Request
from tests.support import cli, cli_json, statuses, write_project

CRM = {
    "sources/crm.yml": """
        type: sqlite
        url: data/crm.sqlite
        tables:
          customers: {table: customers, cursor: id}
          vip: {query: "select id, name from customers where score > 50"}
    """,
    "models/staging/customers.sql": "select id, upper(name) as name, score from crm.customers",
    "models/marts/vip.sql": "select count(*) as n from crm.vip",
}


def add_customers(path: Path, rows: list[tuple[int, str, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.execute(
            "create table if not exists customers (id integer primary key, name text, score real)"
        )
        con.executemany("insert into customers values (?, ?, ?)", rows)


def test_a_database_source_loads_new_rows_by_cursor(tmp_path: Path) -> None:
    root = write_project(tmp_path, CRM)
    add_customers(root / "data/crm.sqlite", [(1, "ann", 10), (2, "bob", 70), (3, "cy", 90)])
    first = cli_json(root, "run")
    assert first["status"] == "success"
    loaded = {m["name"]: m.get("detail", {}) for m in first["models"]}
    assert loaded["crm.customers"]["loaded"] == 3
    assert cli_json(root, "query", "select count(*) as n from staging.customers")["rows"] == [
        {"n": 3}
    ]

    add_customers(root / "data/crm.sqlite", [(4, "di", 95), (5, "ed", 5)])
    second = cli_json(root, "run")
    loaded = {m["name"]: m.get("detail", {}) for m in second["models"]}
    assert loaded["crm.customers"]["loaded"] == 2  # only the rows past the cursor
    assert loaded["crm.customers"]["cursor"] == "5"
    assert cli_json(root, "query", "select count(*) as n from staging.customers")["rows"] == [
        {"n": 5}
    ]
    assert cli_json(root, "query", "select n from marts.vip")["rows"] == [{"n": 3}]

    quiet = cli_json(root, "run")
    result = statuses(quiet)
    assert result["crm.customers"] == "skipped"  # read, found nothing new
    assert result["staging.customers"] == "skipped"  # so nothing downstream is rebuilt

    again = cli_json(root, "run", "--full-refresh", "--select", "crm.customers")
    assert {m["name"]: m.get("detail", {}) for m in again["models"]}["crm.customers"]["loaded"] == 5


def test_a_database_load_reports_its_rows_as_it_goes(tmp_path: Path) -> None:
    files = {k: v for k, v in CRM.items() if k != "models/marts/vip.sql"}
    files["sources/crm.yml"] = """
        type: sqlite
        url: data/crm.sqlite
        tables:
          customers: {table: customers, batch_rows: 100}
    """
    root = write_project(tmp_path, files)
    add_customers(root / "data/crm.sqlite", [(i, f"c{i}", float(i % 100)) for i in range(1, 1001)])
    console = RecordingConsole()
    with Project.load(root, console=console) as project:
        assert project.run().status == "success"
    reported = [line for line in console.lines if line.startswith("crm.customers: ")]
    counts = [int(line.split()[1].replace(",", "")) for line in reported[:-1]]
    assert counts == sorted(counts) and len(counts) >= 10 and counts[-1] == 1000
    assert reported[-1] == "crm.customers: built"


def test_an_unreachable_database_fails_its_task_and_keeps_what_was_published(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path, CRM)
    add_customers(root / "data/crm.sqlite", [(1, "ann", 10)])
    cli(root, "run", check=True)
    (root / "data/crm.sqlite").unlink()
    failed = cli_json(root, "run")
    assert failed["status"] == "failed"
    error = next(m["error"] for m in failed["models"] if m["name"] == "crm.customers")
    assert "crm" in error
    assert cli_json(root, "query", "select count(*) as n from staging.customers")["rows"] == [
        {"n": 1}
    ]


@pytest.mark.services
def test_a_postgres_source_with_a_secret_url(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    import psycopg

    from tests.conftest import libpq_url

    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as con:
        con.execute(f"create schema {pg_schema}")
        con.execute(
            f"create table {pg_schema}.orders (id int, amount numeric(10,2), at timestamptz)"
        )
        con.execute(f"insert into {pg_schema}.orders values (1, 9.50, now()), (2, 20.25, now())")
    secret = f"HG_TEST_PG_{uuid.uuid4().hex[:6].upper()}"
    files = {
        "sources/shop.yml": f"""
            type: postgres
            url: ${{secret:{secret}}}
            tables:
              orders: {{table: {pg_schema}.orders, cursor: id}}
        """,
        "models/revenue.sql": "select sum(amount) as revenue from shop.orders",
    }
    root = write_project(tmp_path, files)
    result = cli_json(root, "run", env={secret: libpq_url(postgres_url)})
    assert result["status"] == "success", result
    assert cli_json(root, "query", "select revenue from revenue")["rows"] == [{"revenue": 29.75}]
    missing = cli(root, "run", "--full-refresh")  # the secret is not set this time
    said = missing.stdout + missing.stderr
    assert missing.returncode == 1 and secret in said
    assert "127.0.0.1:5432" not in said  # no connection string is ever printed


def test_an_http_source_in_a_run(api: Api, tmp_path: Path) -> None:
    people = [{"id": i, "name": f"p{i}", "address": {"city": "Köln"}} for i in range(1, 13)]

    def page(request: Request) -> Reply:
        number, size = int(request.query["page"]), int(request.query["per_page"])
        return Reply(body={"items": people[(number - 1) * size : number * size]})

    api.route("/people", page)
    files = {
        "sources/crm_api.yml": f"""
            type: http
            base_url: {api.url}
            tables:
              people:
                path: /people
                records: items
                pagination: {{style: page, size_param: per_page, page_size: 5}}
        """,
        "models/people.sql": "select id, name, address->>'city' as city from crm_api.people",
    }
    root = write_project(tmp_path, files)
    result = cli_json(root, "run")
    assert result["status"] == "success", result
    rows = cli_json(root, "query", "select count(*) as n, min(city) as city from people")["rows"]
    assert rows == [{"n": 12, "city": "Köln"}]
    assert len(api.hits("/people")) == 3


@pytest.mark.services
def test_a_redis_stream_source_in_runs(redis_key: Any, tmp_path: Path) -> None:
    redis_key.add([{"id": i, "kind": "click"} for i in range(25)])
    files = {
        "sources/clicks.yml": f"""
            type: redis_stream
            url: {redis_key.url}
            batch_size: 10
            block_ms: 200
            tables:
              events: {{stream: {redis_key.name}}}
        """,
        "models/per_kind.sql": "select kind, count(*) as n from clicks.events group by kind",
    }
    root = write_project(tmp_path, files)
    first = cli_json(root, "run")
    assert first["status"] == "success", first
    detail = {m["name"]: m.get("detail", {}) for m in first["models"]}["clicks.events"]
    assert detail == {"batches": 3, "loaded": 25, "rejected": 0}
    assert redis_key.pending() == 0  # acknowledged once committed
    redis_key.add([{"id": 25, "kind": "view"}])
    redis_key.client.xadd(redis_key.name, {"data": b"{not json"})
    second = cli_json(root, "run")
    detail = {m["name"]: m.get("detail", {}) for m in second["models"]}["clicks.events"]
    assert (detail["loaded"], detail["rejected"]) == (1, 1)
    rows = cli_json(root, "query", "select kind, n from per_kind order by kind")["rows"]
    assert rows == [{"kind": "click", "n": 25}, {"kind": "view", "n": 1}]
    rejects = cli_json(root, "query", "select count(*) as n from clicks.events__rejects")["rows"]
    assert rejects == [{"n": 1}]
