"""The audit log records every change and detects an edited or deleted entry."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from headgate import Project
from tests.support import cli, cli_json, write_project

FILES = {"models/a.sql": "select 1 as x", "models/b.sql": "select x + 1 as y from a"}


def build_history(root: Path) -> None:
    with Project.load(root) as project:
        project.run()
        project.env_create("dev")
    (root / "models/b.sql").write_text("select x + 2 as y from a")
    with Project.load(root) as project:  # the edited project
        project.run("dev")
        project.deploy("dev", "prod")
        project.rollback("prod")
        project.secret_set("TOKEN", "abc-do-not-print")


def test_changes_are_recorded_with_who_and_what(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    build_history(root)
    entries = cli_json(root, "audit")["entries"]
    actions = [(e["action"], e["environment"]) for e in entries]
    assert actions == [
        ("run.start", "prod"),
        ("env.create", "dev"),
        ("run.start", "dev"),
        ("deploy", "prod"),
        ("rollback", "prod"),
        ("secret.set", "*"),
    ]
    assert all(e["actor"] for e in entries)
    assert "abc-do-not-print" not in str(entries)
    verified = cli(root, "audit", "verify", check=True).stdout
    assert "audit log intact" in verified and "6 entries" in verified


def test_an_edited_or_deleted_entry_is_found(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    build_history(root)
    database = root / ".headgate/state.db"
    with sqlite3.connect(database) as con:
        con.execute("update audit_log set actor = 'someone-else' where action = 'deploy'")
    edited = cli(root, "audit", "verify")
    assert edited.returncode == 1
    assert "broken at entry 4" in edited.stdout and "edited" in edited.stdout
    with sqlite3.connect(database) as con:
        con.execute(
            "update audit_log set actor = (select actor from audit_log where id = 1) where id = 4"
        )
        con.execute("delete from audit_log where action = 'env.create'")
    deleted = cli(root, "audit", "verify")
    assert deleted.returncode == 1 and "broken at entry 3" in deleted.stdout


def test_the_log_exports_as_json_lines(tmp_path: Path) -> None:
    import json

    root = write_project(tmp_path, FILES)
    build_history(root)
    lines = cli(root, "audit", "export", check=True).stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(len(r["hash"]) == 64 for r in rows)
    assert rows[1]["prev_hash"] == rows[0]["hash"]
