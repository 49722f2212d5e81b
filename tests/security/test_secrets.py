"""Secrets encrypted in the store, per environment, resolved in the run's environment, never shown."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import HeadgateError
from tests.support import cli, cli_json, write_project

PROD_DB, DEV_DB = "data/prod.sqlite", "data/dev.sqlite"
FILES = {
    "sources/crm.yml": "type: sqlite\nurl: ${secret:CRM_PATH}\ntables:\n  customers: {table: customers}\n",
    "models/n.sql": "select count(*) as n from crm.customers",
}


def make_database(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.execute("create table customers (id integer primary key)")
        con.executemany("insert into customers values (?)", [(i,) for i in range(rows)])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "p", FILES)
    make_database(root / PROD_DB, 3)
    make_database(root / DEV_DB, 7)
    return root


def test_each_environment_reads_its_own_secret(root: Path) -> None:
    with Project.load(root) as project:
        project.secret_set("CRM_PATH", PROD_DB, environment="prod")
        project.secret_set("CRM_PATH", DEV_DB)  # every other environment
        assert project.run().status == "success"
        project.env_create("dev")
        assert project.run("dev").status == "success"
        assert project.query("select n from n").to_pylist() == [{"n": 3}]
        assert project.query("select n from n", environment="dev").to_pylist() == [{"n": 7}]


def test_a_secret_value_is_stored_encrypted_and_never_shown(root: Path) -> None:
    marker = "s3cr3t-Zq9-value"
    with Project.load(root) as project:
        project.secret_set("CRM_PATH", f"data/{marker}.sqlite", environment="prod")
        failed = project.run()  # the file does not exist: the error must not echo the path
    assert failed.status == "failed"
    listed = cli(root, "secrets", "list", check=True).stdout
    shown = [listed, cli(root, "runs", "--json").stdout, cli(root, "audit", "--json").stdout]
    shown += [str(t.error) for t in failed.tasks]
    assert "CRM_PATH" in listed
    for text in shown:
        assert marker not in text
    store = (root / ".headgate/state.db").read_bytes()
    assert marker.encode() not in store  # at rest, only ciphertext


def test_a_key_file_others_can_read_is_refused(root: Path) -> None:
    with Project.load(root) as project:
        project.secret_set("CRM_PATH", PROD_DB)
    key = root / ".headgate/secret.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    os.chmod(key, 0o644)
    with Project.load(root) as project, pytest.raises(HeadgateError) as caught:
        project.secret_set("OTHER", "x")
    assert "can be read by others" in caught.value.render() and "chmod 600" in caught.value.render()


def test_rotating_the_key_keeps_every_value_and_drops_the_old_key(root: Path) -> None:
    with Project.load(root) as project:
        project.secret_set("CRM_PATH", PROD_DB)
        old = (root / ".headgate/secret.key").read_bytes()
        assert project.secrets_rotate_key() == 1
        new = (root / ".headgate/secret.key").read_bytes()
        assert new != old and len(new.splitlines()) == 1
        assert project.run().status == "success"


def test_secrets_list_shows_names_and_scopes_only(root: Path) -> None:
    with Project.load(root) as project:
        project.secret_set("CRM_PATH", PROD_DB, environment="prod")
    listed = cli_json(root, "secrets", "list")["secrets"]
    assert [(s["name"], s["environment"]) for s in listed] == [("CRM_PATH", "prod")]
    assert all("value" not in s and "ciphertext" not in s for s in listed)
