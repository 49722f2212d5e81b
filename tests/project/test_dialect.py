"""Models written in the project's SQL dialect: read in it, built on any engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import ProjectError
from tests.support import write_project

SNOWFLAKE = "select iff(x > 1, 'big', 'small') as size, x from (select 2 as x)"


def test_a_model_in_another_dialect_is_read_in_it_and_built(tmp_path: Path) -> None:
    root = write_project(
        tmp_path, {"models/sizes.sql": SNOWFLAKE}, config="name: t\ndialect: snowflake\n"
    )
    with Project.load(root) as project:
        assert project.loaded.config.dialect == "snowflake"
        assert project.run().status == "success"
        assert project.query("select size, x from sizes").to_pylist() == [{"size": "big", "x": 2}]


def test_changing_the_dialect_reads_the_models_again(tmp_path: Path) -> None:
    files = {"models/q.sql": "select 'a' || 'b' as ab"}
    root = write_project(tmp_path, files, config="name: t\n")
    with Project.load(root) as project:
        duckdb_sql = project.loaded.models["q"].normalized
    (root / "headgate.yml").write_text("name: t\ndialect: tsql\n")
    with Project.load(root) as project:  # not served from the parse cache of the other dialect
        assert project.loaded.config.dialect == "tsql"
        assert project.loaded.models["q"].normalized != "" and duckdb_sql != ""
        assert project.run().status == "success"


def test_an_unknown_dialect_is_named_with_its_line(tmp_path: Path) -> None:
    root = write_project(
        tmp_path, {"models/a.sql": "select 1 as x"}, config="name: t\ndialect: klingon\n"
    )
    with pytest.raises(ProjectError) as caught:
        Project.load(root)
    shown = caught.value.render()
    assert "headgate.yml:2" in shown and "unknown SQL dialect 'klingon'" in shown
