"""Write, audit, publish: data that fails its checks never reaches readers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from headgate import Project
from headgate.errors import ProjectError
from headgate.plan.versions import Segment, Version
from headgate.runtime.results import RunResult
from tests.support import write_project

ORDERS_OK = "select * from (values (1, 10.0), (2, 20.0), (3, 30.0)) as t(order_id, amount)"
ORDERS_BAD = (
    "select * from (values (1, 10.0), (2, -5.0), (2, 30.0), (null, 1.0)) as t(order_id, amount)"
)
CHECKS = """
columns:
  order_id:
    checks: [not_null, unique]
  amount:
    checks:
      - range: {min: 0}
        severity: warn
"""
FILES = {
    "models/staging/orders.sql": ORDERS_OK,
    "models/staging/orders.yml": CHECKS,
    "models/marts/revenue.sql": "select sum(amount) as revenue from staging.orders",
}


def run(root: Path, **kwargs: object) -> RunResult:
    with Project.load(root) as project:
        return project.run(**kwargs)  # type: ignore[arg-type]


def task(result: RunResult, name: str) -> dict[str, object]:
    found = next(t for t in result.tasks if t.name == name)
    return {
        "status": found.status,
        "action": found.action,
        "error": found.error,
        "checks": found.checks,
    }


def revenue(root: Path) -> object:
    with Project.load(root) as project:
        return project.query("select revenue from marts.revenue").to_pylist()[0]["revenue"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_project(tmp_path, FILES)


def test_passing_checks_publish_and_are_recorded(root: Path) -> None:
    result = run(root)
    assert result.status == "success" and result.published
    statuses = {c.name: c.status for c in task(result, "staging.orders")["checks"]}  # type: ignore[attr-defined]
    assert statuses == {
        "staging.orders.order_id.not_null": "pass",
        "staging.orders.order_id.unique": "pass",
        "staging.orders.amount.range": "pass",
    }
    with Project.load(root) as project:
        stored = project.state.check_results(run_id=result.run_id)
    assert {r.check_name for r in stored} == set(statuses)


def test_failing_checks_block_publishing_and_keep_the_failed_table(root: Path) -> None:
    run(root)
    (root / "models/staging/orders.sql").write_text(ORDERS_BAD)
    result = run(root)
    orders = task(result, "staging.orders")
    assert orders["status"] == "failed"
    assert "2 check(s) failed" in str(orders["error"])
    assert task(result, "marts.revenue")["status"] == "upstream_failed"
    assert not result.published
    assert revenue(root) == 60.0  # readers still see the data that passed
    checks = {c.name: c for c in orders["checks"]}  # type: ignore[attr-defined]
    assert checks["staging.orders.order_id.unique"].status == "fail"
    assert checks["staging.orders.order_id.not_null"].failing_rows == 1
    assert checks["staging.orders.amount.range"].status == "warn"
    # the failing rows are kept as a sample, only for checks that failed
    assert checks["staging.orders.order_id.unique"].sample
    assert not [c for c in checks.values() if c.status == "pass" and c.sample]
    failed_table = next(t for t in result.tasks if t.name == "staging.orders").physical_table
    with duckdb.connect(str(root / ".headgate/warehouse.duckdb"), read_only=True) as con:
        assert con.execute(f"select count(*) from {failed_table}").fetchall() == [(4,)]


def test_a_failed_table_is_audited_again_not_rebuilt_and_a_fixed_check_publishes_it(
    root: Path,
) -> None:
    run(root)
    (root / "models/staging/orders.sql").write_text(ORDERS_BAD)
    run(root)
    again = run(root)
    assert task(again, "staging.orders")["action"] == "audit"
    assert task(again, "staging.orders")["status"] == "failed"
    # the team decides duplicates and nulls are tolerable here: only the checks change
    (root / "models/staging/orders.yml").write_text(
        "columns:\n  order_id:\n    checks:\n      - not_null: {}\n        max_failures: 1\n"
    )
    fixed = run(root)
    assert task(fixed, "staging.orders")["action"] == "audit"
    assert task(fixed, "staging.orders")["status"] == "skipped"  # nothing rebuilt
    assert fixed.published
    assert revenue(root) == 36.0


def test_a_warn_check_is_reported_and_publishes(root: Path) -> None:
    (root / "models/staging/orders.sql").write_text(
        "select * from (values (1, 10.0), (2, -5.0)) as t(order_id, amount)"
    )
    result = run(root)
    assert result.status == "success" and result.published
    checks = {c.name: c.status for c in task(result, "staging.orders")["checks"]}  # type: ignore[attr-defined]
    assert checks["staging.orders.amount.range"] == "warn"


def test_a_check_on_a_missing_column_names_the_file_and_line(root: Path) -> None:
    (root / "models/staging/orders.yml").write_text(
        "columns:\n  order_idd:\n    checks: [not_null]\n"
    )
    result = run(root)
    error = str(task(result, "staging.orders")["error"])
    assert "orders.yml:2" in error and "order_idd" in error and "order_id" in error


def test_an_unknown_check_type_stops_the_run_before_anything_is_built(root: Path) -> None:
    (root / "models/staging/orders.yml").write_text(
        "columns:\n  order_id:\n    checks: [not_nul]\n"
    )
    with Project.load(root) as project, pytest.raises(ProjectError) as caught:
        project.run()
    assert "orders.yml:3" in str(caught.value)
    assert not (root / ".headgate/warehouse.duckdb").exists()


def test_custom_sql_checks_audit_the_models_they_read(root: Path) -> None:
    (root / "checks").mkdir()
    (root / "checks/no_big_orders.sql").write_text("select * from staging.orders where amount > 25")
    result = run(root)
    assert task(result, "staging.orders")["status"] == "failed"
    assert "no_big_orders" in str(task(result, "staging.orders")["error"])


def test_a_check_reading_two_models_built_in_one_run_reads_this_runs_tables(
    tmp_path: Path,
) -> None:
    """Both models are new on the first build: the check waits for both and reads them."""
    files = {
        "models/staging/orders.sql": "select range as order_id, range * 10 as amount from range(50)",
        "models/staging/payments.sql": (
            "select range as order_id, range * 10 as paid from range(50) "
            "union all select 1000, 5 from range(1) where {bad}"
        ),
        "checks/payments_match_orders.sql": """
            select p.order_id from staging.payments p
            left join staging.orders o using (order_id)
            where o.order_id is null or o.amount <> p.paid
        """,
    }
    root = write_project(
        tmp_path,
        {
            **files,
            "models/staging/payments.sql": files["models/staging/payments.sql"].format(bad="false"),
        },
    )
    first = run(root, threads=4)
    assert first.status == "success", [(t.name, t.error) for t in first.tasks]
    (root / "models/staging/orders.sql").write_text(
        "select range as order_id, range * 10 as amount from range(60)"
    )
    (root / "models/staging/payments.sql").write_text(
        files["models/staging/payments.sql"].format(bad="true")
    )
    second = run(root, threads=4)
    failed = [t for t in second.tasks if t.status == "failed"]
    assert [t.name for t in failed] == ["staging.payments"]
    assert "payments_match_orders" in str(failed[0].error)
    assert "does not exist" not in str(failed[0].error)


INCREMENTAL = {
    "models/raw/events.sql": """
        select id, TIMESTAMP '2024-01-01' + (id * INTERVAL 6 HOUR) as ts,
               case when id = 30 then 29 else id end as event_id
        from range(40) t(id)
    """,
    "models/inc/events.sql": """
        /* headgate:
        materialized: incremental
        time_column: ts
        start: 2024-01-01
        columns:
          event_id:
            checks: [unique]
        */
        select id, ts, event_id from raw.events
    """,
}


def test_an_incremental_range_that_fails_its_checks_is_rolled_back(tmp_path: Path) -> None:
    root = write_project(tmp_path, INCREMENTAL)
    first = run(root, end=datetime(2024, 1, 8))  # ids 0..27: no duplicate yet
    assert first.status == "success"
    second = run(root, end=datetime(2024, 1, 11))  # adds id 30, whose event_id repeats 29
    assert task(second, "inc.events")["status"] == "failed"
    with Project.load(root) as project:
        assert project.query("select count(*) as n from inc.events").to_pylist() == [{"n": 28}]
        failed = next(t for t in second.tasks if t.name == "inc.events").physical_table
        published = project.state.env_models("prod")["inc.events"].physical_table
        registry = project.state.physical_tables()
    assert failed != published  # the failed version has a name of its own, never published
    assert registry[failed].audit_status == "failed"
    covered = Version("ranges", [Segment.from_json(s) for s in registry[published].segments or []])
    assert max(end for _, end in covered.covered()).day == 8  # the failed range is not done
