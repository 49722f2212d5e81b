"""A project on PostgreSQL end to end, through the Project facade as a user drives it:
runs, plans, environments, deploy, rollback, diff, janitor, profiles, incremental models."""

from __future__ import annotations

import importlib
import inspect
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import tests.runtime.test_incremental as incremental
from headgate import Project
from headgate.errors import HeadgateError
from tests.conftest import postgres_engine_yaml
from tests.support import write_project

pytestmark = pytest.mark.services

FILES = {
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders.csv}\n",
    "data/orders.csv": "id,customer,amount,placed\n1,ann,10.5,2024-01-01\n2,bob,20,2024-01-02\n"
    "3,ann,7.25,2024-01-02\n",
    "models/staging/orders.sql": """
        /* headgate:
        materialized: view
        */
        select id, lower(customer) as customer, amount, cast(placed as date) as placed
        from shop.orders
    """,
    "models/marts/customers.sql": """
        /* headgate:
        unique_key: customer
        columns:
          customer: {checks: [not_null, unique]}
        */
        select customer, count(*) as orders, round(sum(amount), 2) as spent
        from staging.orders group by customer
    """,
    "models/marts/ranked.py": '''
        """headgate:
        depends_on: [marts.customers]
        """
        import pyarrow.compute as pc


        def model(ctx):
            table = ctx.ref("marts.customers")
            return table.append_column("rank", pc.rank(table["spent"], sort_keys="descending"))
    ''',
}


@pytest.fixture
def project(postgres_url: str, pg_prefix: str, tmp_path: Path) -> Path:
    config = "name: shop\n" + postgres_engine_yaml(postgres_url, pg_prefix)
    return write_project(tmp_path / "shop", FILES, config=config)


def rows(root: Path, sql: str, environment: str | None = None) -> list[dict[str, Any]]:
    with Project.load(root) as project:
        return project.query(sql, environment).to_pylist()


def test_run_plan_environments_deploy_rollback_and_janitor(project: Path) -> None:
    with Project.load(project) as shop:
        first = shop.run()
    assert first.status == "success", [t.error for t in first.tasks if t.error]
    assert rows(project, "select customer, spent from marts.customers order by customer") == [
        {"customer": "ann", "spent": 17.75},
        {"customer": "bob", "spent": 20.0},
    ]
    assert rows(project, "select customer, rank from marts.ranked order by rank") == [
        {"customer": "bob", "rank": 1},
        {"customer": "ann", "rank": 2},
    ]

    with Project.load(project) as shop:
        shop.env_create("dev")
    model = project / "models/marts/customers.sql"
    model.write_text(model.read_text().replace("round(sum(amount), 2)", "round(sum(amount), 0)"))
    with Project.load(project) as shop:
        plan = shop.plan("dev")
        assert plan.nodes["marts.customers"].action == "build"
        built = shop.run(environment="dev")
    assert {t.name for t in built.tasks if t.status == "built"} == {
        "marts.customers",
        "marts.ranked",
    }
    assert rows(project, "select spent from marts.customers order by customer", "dev") == [
        {"spent": 18.0},
        {"spent": 20.0},
    ]
    assert rows(project, "select spent from marts.customers order by customer") == [
        {"spent": 17.75},
        {"spent": 20.0},
    ]  # prod untouched by dev's run

    with Project.load(project) as shop:
        diff = shop.diff("marts.customers", "dev", "prod", key=["customer"])
        assert diff.changed == 1
        deployed = shop.deploy("dev", "prod")
        assert deployed.change.changed
        assert rows(project, "select spent from marts.customers where customer = 'ann'") == [
            {"spent": 18.0}
        ]
        shop.rollback("prod")
        assert rows(project, "select spent from marts.customers where customer = 'ann'") == [
            {"spent": 17.75}
        ]
        shop.env_delete("dev")
        swept = shop.janitor(retention_days=0)
    assert any("marts__customers" in name for name in swept.dropped)  # dev's build, unused now
    assert rows(project, "select count(*) as n from marts.ranked") == [{"n": 2}]


def test_profile_and_checks_of_what_prod_publishes(project: Path) -> None:
    with Project.load(project) as shop:
        assert shop.run().status == "success"
        profile = shop.profile("marts.customers")
        report = shop.test()
    assert profile.rows == 2
    assert {c.name: c.distinct for c in profile.columns}["customer"] == 2
    assert {r.name: r.status for r in report.results} == {
        "marts.customers.customer.not_null": "pass",
        "marts.customers.customer.unique": "pass",
    }


def test_a_query_names_models_and_an_unknown_one_is_said_plainly(project: Path) -> None:
    with Project.load(project) as shop:
        shop.run()
    assert rows(project, "select count(*) as n from staging.orders") == [{"n": 3}]
    with Project.load(project) as shop, pytest.raises(HeadgateError) as caught:
        shop.query("select * from marts.customerz")
    assert "prod publishes no model or source named marts.customerz" in caught.value.message
    assert caught.value.hint and "marts.customers" in caught.value.hint


# Tests of tests/runtime, run as they are on a PostgreSQL project (their write_project
# writes a PostgreSQL engine block): incremental models, file sources, Python models, the
# isolation of environments, write-audit-publish.
ON_POSTGRES = {
    "tests.runtime.test_incremental": sorted(n for n in dir(incremental) if n.startswith("test_")),
    "tests.runtime.test_file_sources": [
        "test_each_file_is_loaded_once_and_the_contract_is_pinned",
        "test_rows_that_do_not_parse_go_to_the_rejects_table_with_file_line_and_reason",
        "test_too_many_rejects_fail_the_load_and_keep_what_was_published",
        "test_schema_drift_follows_the_policy",
        "test_malformed_ndjson_lines_are_rejected_not_dropped",
    ],
    "tests.runtime.test_python_models": [
        "test_python_models_build_and_feed_sql_models",
        "test_a_python_model_returning_something_else_fails_with_a_clear_error",
    ],
    "tests.runtime.test_isolation": [
        "test_a_dev_run_ahead_of_prod_never_changes_what_prod_reads",
        "test_environments_with_different_ends_stay_apart_and_exact",
        "test_a_failing_downstream_model_after_new_ranges_leaves_prod_as_it_was",
        "test_a_failing_error_check_after_new_ranges_leaves_prod_as_it_was",
        "test_a_restated_range_replaces_its_rows_only_in_the_publishing_environment",
        "test_many_daily_runs_stay_a_few_segments_and_exact",
    ],
    "tests.runtime.test_write_audit_publish": [
        "test_passing_checks_publish_and_are_recorded",
        "test_a_failed_table_is_audited_again_not_rebuilt_and_a_fixed_check_publishes_it",
        "test_a_warn_check_is_reported_and_publishes",
        "test_a_check_on_a_missing_column_names_the_file_and_line",
        "test_an_unknown_check_type_stops_the_run_before_anything_is_built",
        "test_custom_sql_checks_audit_the_models_they_read",
        "test_an_incremental_range_that_fails_its_checks_is_rolled_back",
        # left out: test_failing_checks_block_publishing_and_keep_the_failed_table opens the
        # DuckDB file itself; test_a_check_reading_two_models_built_in_one_run_reads_this_runs_tables
        # reads DuckDB's range(n) by its implicit column `range`, which has no PostgreSQL form
    ],
}
CASES = [(module, case) for module, cases in ON_POSTGRES.items() for case in cases]


@pytest.mark.parametrize(("module", "case"), CASES)
def test_runtime_behaviour_on_postgres(
    module: str,
    case: str,
    postgres_url: str,
    pg_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tests = importlib.import_module(module)
    config = "name: test_project\n" + postgres_engine_yaml(postgres_url, pg_prefix)

    written: list[Path] = []

    def on_postgres(root: Path, files: dict[str, str], **_: object) -> Path:
        written.append(write_project(root, files, config=config))
        return written[-1]

    monkeypatch.setattr(tests, "write_project", on_postgres)
    test = getattr(tests, case)
    if "root" in inspect.signature(test).parameters:  # the module's own project fixture
        test(tests.root.__wrapped__(tmp_path))
    else:
        test(tmp_path)
    assert written, f"{case} wrote no project, so it never ran on PostgreSQL"
    assert all("type: postgres" in (root / "headgate.yml").read_text() for root in written)


def test_an_incremental_range_lands_in_a_segment_and_prod_keeps_its_version(
    project: Path,
) -> None:
    (project / "models/marts/daily.sql").write_text(
        "/* headgate:\nmaterialized: incremental\ntime_column: placed\nstart: 2024-01-01\n"
        "interval: day\n*/\nselect placed, count(*) as n from staging.orders group by placed\n"
    )
    with Project.load(project) as shop:
        first = shop.run(end=datetime(2024, 1, 2))
        assert first.status == "success", [t.error for t in first.tasks if t.error]
        shop.env_create("dev")
        shop.run(environment="dev", end=datetime(2024, 1, 3))
    assert rows(project, "select count(*) as days from marts.daily") == [{"days": 1}]
    assert rows(project, "select sum(n) as n from marts.daily", "dev") == [{"n": 3}]


NOTEBOOK_CELL = """
from headgate import Project

with Project.load(headgate_project) as project:
    table = project.query("select sum(spent) as total from marts.customers", headgate_environment)
print("total spent:", table.to_pylist()[0]["total"])
"""


def test_a_notebook_reads_postgres_through_headgate(project: Path) -> None:
    """The kernel reads through the project (any engine), never a warehouse file or a URL."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(
        nbformat.v4.new_code_cell("headgate_project = None", metadata={"tags": ["parameters"]})
    )
    notebook.cells.append(nbformat.v4.new_code_cell(NOTEBOOK_CELL))
    (project / "notebooks").mkdir()
    nbformat.write(notebook, str(project / "notebooks/spend.ipynb"))
    (project / "deliveries").mkdir()
    (project / "deliveries/spend.yml").write_text(
        "type: notebook\nnotebook: notebooks/spend.ipynb\nreads: [marts.customers]\n"
    )
    with Project.load(project) as shop:
        result = shop.run()
    delivered = {d.name: d for d in result.deliveries}
    assert delivered["spend"].status == "delivered", delivered["spend"].message
    executed = nbformat.read(str(project / "out/notebooks/spend.ipynb"), as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "total spent: 37.75" in printed
    assert "postgresql://" not in (project / "out/notebooks/spend.ipynb").read_text()
