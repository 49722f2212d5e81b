"""Runs: build in dependency order, skip what is built, publish all or nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from headgate import Project
from headgate.runtime.results import RunResult
from tests.support import write_project

FILES = {
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders.csv, format: csv}\n",
    "data/orders.csv": "id,customer,amount\n1,a,10\n2,b,20\n3,a,30\n",
    "models/staging/orders.sql": "select id, customer, amount from shop.orders",
    "models/marts/by_customer.sql": """
        select customer, sum(amount) as total
        from staging.orders
        group by customer
    """,
    "models/marts/top.sql": "select * from marts.by_customer order by total desc limit 1",
    "models/other/constant.sql": "select 42 as answer",
}


def run(root: Path, **kwargs: object) -> RunResult:
    with Project.load(root) as project:
        return project.run(**kwargs)  # type: ignore[arg-type]


def by_name(result: RunResult) -> dict[str, str]:
    return {t.name: t.status for t in result.tasks}


def query(root: Path, sql: str) -> list[tuple[object, ...]]:
    with Project.load(root) as project:
        return [tuple(r.values()) for r in project.query(sql).to_pylist()]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_project(tmp_path, FILES)


def test_full_build_publishes_every_model(root: Path) -> None:
    result = run(root)
    assert result.status == "success" and result.published
    assert set(by_name(result).values()) == {"built"}
    assert query(root, "select customer, total from marts.by_customer order by customer") == [
        ("a", 40),
        ("b", 20),
    ]
    assert query(root, "select count(*) from shop.orders") == [(3,)]
    rows = {t.name: t.rows for t in result.tasks}
    assert rows["staging.orders"] == 3 and rows["marts.top"] == 1


def test_second_run_builds_nothing(root: Path) -> None:
    run(root)
    again = run(root)
    assert again.status == "nothing_to_do"
    assert set(by_name(again).values()) == {"skipped"}
    assert "up to date" in again.message


def test_changing_one_model_rebuilds_it_and_downstream_only(root: Path) -> None:
    run(root)
    (root / "models/marts/by_customer.sql").write_text(
        "select customer, sum(amount) * 2 as total from staging.orders group by customer"
    )
    result = run(root)
    built = {name for name, status in by_name(result).items() if status == "built"}
    assert built == {"marts.by_customer", "marts.top"}
    assert query(root, "select total from marts.top") == [(80,)]


def test_reverting_a_change_reuses_the_old_table(root: Path) -> None:
    original = (root / "models/marts/top.sql").read_text()
    run(root)
    (root / "models/marts/top.sql").write_text(
        "select * from marts.by_customer order by total limit 1"
    )
    run(root)
    (root / "models/marts/top.sql").write_text(original)
    result = run(root)
    assert by_name(result)["marts.top"] == "skipped"
    assert result.published  # the view was pointed back at the existing table, nothing built
    assert query(root, "select customer from marts.top") == [("a",)]


def test_a_failure_leaves_the_environment_exactly_as_it_was(root: Path) -> None:
    run(root)
    (root / "models/marts/by_customer.sql").write_text(
        "select customer, sum(amount) / 0 as total, 'x'::int as broken from staging.orders group by customer"
    )
    (root / "models/other/constant.sql").write_text("select 43 as answer")
    result = run(root)
    statuses = by_name(result)
    assert statuses["marts.by_customer"] == "failed"
    assert statuses["marts.top"] == "upstream_failed"
    assert statuses["other.constant"] == "built"  # independent models still build
    assert result.status == "failed" and not result.published
    assert "Conversion Error" in (next(t for t in result.tasks if t.status == "failed").error or "")
    # readers still see the previous version of everything, including the model that did build
    assert query(root, "select answer from other.constant") == [(42,)]
    assert query(root, "select total from marts.top") == [(40,)]


def test_publish_partial_publishes_models_whose_upstream_succeeded(root: Path) -> None:
    run(root)
    (root / "models/marts/by_customer.sql").write_text("select 'x'::int as total")
    (root / "models/other/constant.sql").write_text("select 43 as answer")
    result = run(root, publish_partial=True)
    assert result.status == "failed" and result.published
    assert query(root, "select answer from other.constant") == [(43,)]
    assert query(root, "select total from marts.top") == [(40,)]


def test_selection_builds_only_what_is_selected(root: Path) -> None:
    result = run(root, selection="+marts.by_customer")
    assert set(by_name(result)) == {"shop.orders", "staging.orders", "marts.by_customer"}
    assert query(root, "select count(*) from marts.by_customer") == [(2,)]
    rest = run(root)
    assert {n for n, s in by_name(rest).items() if s == "built"} == {"marts.top", "other.constant"}


def test_selecting_a_model_whose_upstream_was_never_built_fails_clearly(root: Path) -> None:
    result = run(root, selection="marts.top")
    task = result.tasks[0]
    assert task.status == "failed"
    assert "has no table for its current version" in (task.error or "")
    assert "+marts.top" in (task.error or "")


def test_environments_are_separate_view_sets(root: Path) -> None:
    run(root)
    (root / "models/other/constant.sql").write_text("select 7 as answer")
    result = run(root, environment="dev-alice")
    assert by_name(result)["other.constant"] == "built"
    assert by_name(result)["marts.top"] == "skipped"  # reused from prod's table, not rebuilt
    with Project.load(root) as project:
        assert project.query("select answer from other.constant", "dev-alice").to_pylist() == [
            {"answer": 7}
        ]
        assert project.query("select answer from other.constant", "prod").to_pylist() == [
            {"answer": 42}
        ]


def test_views_are_plain_sql_views_for_any_duckdb_reader(root: Path) -> None:
    run(root)
    connection = duckdb.connect(str(root / ".headgate/warehouse.duckdb"), read_only=True)
    try:
        assert connection.execute("select total from marts.top").fetchall() == [(40,)]
    finally:
        connection.close()


def test_runs_are_recorded_with_tasks(root: Path) -> None:
    first = run(root)
    with Project.load(root) as project:
        runs = project.runs()
        detail = project.run_detail(first.run_id or 0)
    assert [r.id for r in runs][-1] == first.run_id
    assert runs[0].status == "success"
    assert {t.name: t.status for t in detail.tasks}["marts.top"] == "built"
    assert all(t.seconds is not None for t in detail.tasks)


def test_source_files_changing_rebuilds_downstream(root: Path) -> None:
    run(root)
    (root / "data/orders.csv").write_text("id,customer,amount\n1,a,10\n2,b,20\n3,a,30\n4,b,100\n")
    result = run(root)
    assert by_name(result)["shop.orders"] == "built"
    assert by_name(result)["other.constant"] == "skipped"
    assert query(root, "select customer from marts.top") == [("b",)]
