"""Loading a project: names, references, options, and errors that point at the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate.errors import ProjectError, ProjectErrors
from headgate.project.loader import load_project
from tests.support import write_project

BASIC = {
    "models/staging/orders.sql": """
        /* headgate:
        materialized: view
        tags: [staging]
        owner: alice
        */
        select id, amount from shop.orders
    """,
    "models/marts/revenue.sql": """
        with o as (select * from staging.orders)
        select sum(amount) as revenue from o
    """,
    "models/marts/revenue.yml": "description: Total revenue.\ntags: [finance]\n",
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders.csv}\n",
    "data/orders.csv": "id,amount\n1,10\n",
}


def test_names_come_from_paths_and_references_from_sql(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASIC))
    assert set(project.models) == {"staging.orders", "marts.revenue"}
    assert project.dag.upstream["staging.orders"] == ["shop.orders"]
    # the CTE name `o` is not a table; the model reads staging.orders through it
    assert project.dag.upstream["marts.revenue"] == ["staging.orders"]
    assert project.dag.order.index("shop.orders") < project.dag.order.index("marts.revenue")


def test_options_from_header_block_and_sidecar(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, BASIC))
    assert project.models["staging.orders"].options.materialized == "view"
    assert project.models["staging.orders"].options.owner == "alice"
    assert project.models["marts.revenue"].options.tags == ["finance"]
    assert project.models["marts.revenue"].options.materialized == "table"


def test_options_in_both_places_is_an_error(tmp_path: Path) -> None:
    files = {**BASIC, "models/staging/orders.yml": "tags: [x]\n"}
    with pytest.raises(ProjectError, match="given twice"):
        load_project(write_project(tmp_path, files))


def test_sql_syntax_error_names_file_line_column_and_text(tmp_path: Path) -> None:
    files = {"models/broken.sql": "select id,\n  amount\nfrom orders where (\n"}
    with pytest.raises(ProjectError) as caught:
        load_project(write_project(tmp_path, files))
    message = str(caught.value)
    assert "models/broken.sql:3:" in message
    assert "syntax error" in message
    assert "where" in message


def test_unknown_table_names_file_and_closest_names(tmp_path: Path) -> None:
    files = {**BASIC, "models/marts/bad.sql": "select 1\n\nfrom staging.order\n"}
    with pytest.raises(ProjectError) as caught:
        load_project(write_project(tmp_path, files))
    assert "models/marts/bad.sql:3" in str(caught.value)
    assert "'staging.order' is neither a model nor a declared source" in str(caught.value)
    assert caught.value.hint is not None and "staging.orders" in caught.value.hint


def test_cycle_lists_the_models_in_order(tmp_path: Path) -> None:
    files = {
        "models/a.sql": "select * from c",
        "models/b.sql": "select * from a",
        "models/c.sql": "select * from b",
    }
    with pytest.raises(ProjectError) as caught:
        load_project(write_project(tmp_path, files))
    assert "a -> b -> c -> a" in str(caught.value)


def test_unknown_option_names_line_and_what_is_allowed(tmp_path: Path) -> None:
    files = {"models/a.sql": "/* headgate:\ntags: [x]\nmaterialised: table\n*/\nselect 1 as x\n"}
    with pytest.raises(ProjectError) as caught:
        load_project(write_project(tmp_path, files))
    assert "models/a.sql:3" in str(caught.value)
    assert "unknown option 'materialised'" in str(caught.value)
    assert caught.value.hint and "materialized" in caught.value.hint


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    files = {"models/a.yml": "tags: [x\nowner: bob\n", "models/a.sql": "select 1 as x"}
    with pytest.raises(ProjectError, match=r"models/a.yml:\d+.*invalid YAML"):
        load_project(write_project(tmp_path, files))


def test_bad_option_value_says_what_is_allowed(tmp_path: Path) -> None:
    files = {"models/a.sql": "/* headgate:\nmaterialized: tabel\n*/\nselect 1 as x\n"}
    with pytest.raises(ProjectError) as caught:
        load_project(write_project(tmp_path, files))
    assert "models/a.sql:2" in str(caught.value)
    assert "'view', 'table' or 'incremental'" in str(caught.value)


def test_incremental_without_start_is_refused(tmp_path: Path) -> None:
    files = {
        "models/a.sql": "/* headgate:\nmaterialized: incremental\ntime_column: ts\n*/\nselect now() as ts\n"
    }
    with pytest.raises(ProjectError, match="needs start"):
        load_project(write_project(tmp_path, files))


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    files = {"models/a.sql": "select * from nowhere", "models/b.sql": "select * from elsewhere"}
    with pytest.raises(ProjectErrors) as caught:
        load_project(write_project(tmp_path, files))
    assert len(caught.value.errors) == 2


def test_unknown_source_type_lists_allowed(tmp_path: Path) -> None:
    files = {"sources/s.yml": "type: ftp\ntables: {}\n"}
    with pytest.raises(ProjectError) as caught:
        load_project(write_project(tmp_path, files))
    assert "sources/s.yml:1" in str(caught.value)
    assert (
        caught.value.hint is not None
        and "files" in caught.value.hint
        and "postgres" in caught.value.hint
    )


def test_python_model_references_from_ctx_calls(tmp_path: Path) -> None:
    files = {
        **BASIC,
        "models/marts/py.py": '''
            """headgate:
            materialized: table
            """
            def model(ctx):
                a = ctx.ref("staging.orders")
                return ctx.sql("select * from marts.revenue")
        ''',
    }
    project = load_project(write_project(tmp_path, files))
    assert project.dag.upstream["marts.py"] == ["marts.revenue", "staging.orders"]
    assert project.models["marts.py"].language == "python"


def test_python_model_without_model_function_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"def model\(ctx\)"):
        load_project(write_project(tmp_path, {"models/p.py": "x = 1\n"}))


def test_parse_cache_is_used_and_survives_corruption(tmp_path: Path) -> None:
    root = write_project(tmp_path, BASIC)
    first = load_project(root)
    cache = next((root / ".headgate" / "cache").glob("models-*.pickle"))
    assert cache.stat().st_size > 0
    second = load_project(root)
    assert second.models["marts.revenue"].normalized == first.models["marts.revenue"].normalized
    cache.write_bytes(b"not a pickle")
    third = load_project(root)
    assert set(third.models) == set(first.models)


def test_many_files_are_parsed_in_parallel_and_errors_still_name_the_file(tmp_path: Path) -> None:
    files = {f"models/m/m{i:04d}.sql": f"select {i} as x" for i in range(400)}
    files["models/m/m0123.sql"] = "select x from\nwhere"
    with pytest.raises(ProjectError) as caught:
        load_project(write_project(tmp_path, files))
    assert caught.value.location is not None
    assert caught.value.location.path.name == "m0123.sql"
    assert caught.value.location.line == 2
    (tmp_path / "models/m/m0123.sql").write_text("select 123 as x")
    assert len(load_project(tmp_path).models) == 400
