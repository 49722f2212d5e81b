"""A PostgreSQL warehouse that cannot be used says why in one message, with no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import postgres_engine_yaml
from tests.support import cli, write_project

MODEL = {"models/a.sql": "select 1 as a"}


def refused(root: Path, *args: str) -> str:
    completed = cli(root, *args)
    assert completed.returncode == 1
    assert "Traceback" not in completed.stdout + completed.stderr
    return completed.stderr


def test_an_unreachable_server_is_named_with_its_password_hidden(tmp_path: Path) -> None:
    config = "name: x\nengine:\n  type: postgres\n  url: postgresql://alice:s3cret@127.0.0.1:1/db\n"
    root = write_project(tmp_path, MODEL, config=config)
    error = refused(root, "run")
    assert (
        "cannot connect to the PostgreSQL warehouse at postgresql://alice:***@127.0.0.1:1/db"
        in error
    )
    assert "s3cret" not in error
    assert "hint: check engine.url in headgate.yml" in error


def test_a_url_from_a_missing_secret_says_where_it_was_looked_for(tmp_path: Path) -> None:
    config = "name: x\nengine:\n  type: postgres\n  url: ${secret:WAREHOUSE_URL_NOT_SET}\n"
    root = write_project(tmp_path, MODEL, config=config)
    error = refused(root, "run")
    assert "secret WAREHOUSE_URL_NOT_SET is not set" in error


def test_without_psycopg_the_message_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = "name: x\nengine:\n  type: postgres\n  url: postgresql://127.0.0.1/db\n"
    root = write_project(tmp_path, MODEL, config=config)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    error = refused(root, "run")
    assert "the postgres engine needs psycopg" in error
    assert "pip install 'headgate[postgres]'" in error


def test_an_unknown_engine_type_names_the_ones_there_are(tmp_path: Path) -> None:
    root = write_project(tmp_path, MODEL, config="name: x\nengine:\n  type: oracle\n")
    error = refused(root, "run")
    assert "headgate.yml:2" in error and "unknown engine type: use duckdb" in error
    assert "postgres" in error


@pytest.mark.services
def test_a_construct_postgres_cannot_run_names_the_file_and_line(
    tmp_path: Path, postgres_url: str, pg_prefix: str
) -> None:
    files = {
        **MODEL,
        "models/b.sql": "select\n    a,\n    first_value(a respect nulls) over (order by a) as f\n"
        "from a\n",
    }
    root = write_project(
        tmp_path, files, config="name: x\n" + postgres_engine_yaml(postgres_url, pg_prefix)
    )
    completed = cli(root, "run")
    assert "Traceback" not in completed.stdout + completed.stderr
    said = completed.stdout + completed.stderr
    assert (
        "models/b.sql:3: cannot run on this engine: PostgreSQL does not support RESPECT NULLS"
        in said
    )
    assert "(in `FIRST_VALUE(a RESPECT NULLS)`)" in said
