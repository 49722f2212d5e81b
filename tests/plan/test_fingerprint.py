"""Fingerprints: layout and comments do not count; SQL, data options and upstream changes do."""

from __future__ import annotations

from pathlib import Path

from headgate.plan.fingerprint import fingerprints
from headgate.project.loader import load_project
from tests.support import write_project

FILES = {
    "models/a.sql": "select 1 as x",
    "models/b.sql": "select x + 1 as y from a",
    "models/c.sql": "select y * 2 as z from b",
    "models/other.sql": "select 42 as answer",
}


def _fingerprints(root: Path) -> dict[str, str]:
    return fingerprints(load_project(root))


def test_whitespace_and_comments_do_not_change_fingerprints(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    before = _fingerprints(root)
    (root / "models/b.sql").write_text(
        "-- why: add one\nSELECT\n    x   +  1 AS y\nFROM a /* the base */\n"
    )
    assert _fingerprints(root) == before


def test_descriptions_and_tags_do_not_change_fingerprints(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    before = _fingerprints(root)
    (root / "models/b.yml").write_text("description: Adds one.\ntags: [demo]\nowner: bob\n")
    assert _fingerprints(root) == before


def test_a_change_reaches_downstream_and_nothing_else(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    before = _fingerprints(root)
    (root / "models/b.sql").write_text("select x + 2 as y from a")
    after = _fingerprints(root)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"b", "c"}


def test_materialization_changes_fingerprint(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    before = _fingerprints(root)
    (root / "models/a.yml").write_text("materialized: view\n")
    after = _fingerprints(root)
    assert before["a"] != after["a"] and before["other"] == after["other"]
