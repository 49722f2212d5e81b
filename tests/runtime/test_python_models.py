"""Python models return Arrow, pandas or polars; ctx.ref and ctx.sql read upstream models."""

from __future__ import annotations

from pathlib import Path

from headgate import Project
from tests.support import write_project

FILES = {
    "models/base.sql": "select i as id, i % 2 as odd from range(10) t(i)",
    "models/py/arrow_out.py": """
        import pyarrow.compute as pc

        def model(ctx):
            table = ctx.ref("base")
            return table.filter(pc.equal(table["odd"], 1))
    """,
    "models/py/pandas_out.py": """
        def model(ctx):
            frame = ctx.sql("select id, odd from base where id < 4").to_pandas()
            frame["double"] = frame["id"] * 2
            return frame
    """,
    "models/py/polars_out.py": """
        import polars as pl

        def model(ctx):
            frame = pl.from_arrow(ctx.ref("py.pandas_out"))
            return frame.with_columns((pl.col("double") + 1).alias("plus_one"))
    """,
    "models/py/reads_python.sql": "select sum(plus_one) as total from py.polars_out",
}


def test_python_models_build_and_feed_sql_models(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    with Project.load(root) as project:
        result = project.run()
        assert result.status == "success", [t.error for t in result.tasks if t.error]
        assert project.query("select count(*) as n from py.arrow_out").to_pylist() == [{"n": 5}]
        assert project.query("select total from py.reads_python").to_pylist() == [{"total": 16}]


def test_a_python_model_returning_something_else_fails_with_a_clear_error(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/p.py": "def model(ctx):\n    return [1, 2, 3]\n"})
    with Project.load(root) as project:
        result = project.run()
    assert result.tasks[0].status == "failed"
    assert "returned list" in (result.tasks[0].error or "")
    assert "pyarrow Table" in (result.tasks[0].error or "")
