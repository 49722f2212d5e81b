"""The stamp of a project's files: what tells a kept outline, or a hub, that a file changed."""

from __future__ import annotations

import os
from pathlib import Path

from headgate.facade.snapshots import project_stamp
from tests.support import write_project

FILES = {
    "models/raw/orders.sql": "select 1 as id",
    "models/marts/deep/total.sql": "select count(*) as n from raw.orders",
    "sources/shop.yml": "sources: []\n",
}


def paths(stamp: tuple[tuple[str, int, int], ...]) -> list[str]:
    return [path for path, _, _ in stamp]


def test_the_stamp_lists_every_file_under_models_and_sources_by_its_path(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", FILES)
    stamp = project_stamp(root, [])
    expected = ["headgate.yml", *(p.replace("/", os.sep) for p in FILES)]
    assert paths(stamp) == sorted(expected)
    sizes = {path: size for path, size, _ in stamp}
    assert sizes[os.path.join("models", "raw", "orders.sql")] == len("select 1 as id")


def test_an_edit_deep_in_a_folder_changes_the_stamp(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", FILES)
    before = project_stamp(root, [])
    target = root / "models/marts/deep/total.sql"
    target.write_text("select count(*) as rows from raw.orders")
    after = project_stamp(root, [])
    assert before != after
    changed = {entry[0] for entry in after if entry not in before}
    assert changed == {os.path.join("models", "marts", "deep", "total.sql")}


def test_a_link_to_a_folder_is_not_followed(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", FILES)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "big.sql").write_text("select 2")
    (root / "models" / "linked").symlink_to(elsewhere, target_is_directory=True)
    assert not any("linked" in path for path in paths(project_stamp(root, [])))
