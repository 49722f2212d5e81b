"""A real dbt project (dbt-core with dbt-duckdb) as a step inside a headgate pipeline."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from headgate import Project
from tests.conftest import services_required
from tests.support import write_project

pytestmark = pytest.mark.slow


def _dbt() -> str:
    beside = Path(sys.executable).parent / "dbt"
    found = (
        os.environ.get("HEADGATE_DBT")
        or (str(beside) if beside.is_file() else None)
        or shutil.which("dbt")
    )
    if found is None:
        message = "dbt is not installed (`make dbt`, or pip install 'headgate[dbt]'; HEADGATE_DBT)"
        if services_required():
            pytest.fail(f"{message} (HEADGATE_REQUIRE_SERVICES=1 requires it)", pytrace=False)
        pytest.skip(message)
    return found


FILES = {
    # an existing dbt project: its own warehouse file, its output a Parquet file
    "analytics/dbt_project.yml": """
        name: analytics
        version: "1.0"
        profile: analytics
        model-paths: ["models"]
    """,
    "analytics/profiles.yml": """
        analytics:
          target: dev
          outputs:
            dev: {type: duckdb, path: dbt.duckdb, threads: 1}
    """,
    "analytics/models/customers.sql": """
        {{ config(materialized='external', location='../out/customers.parquet') }}
        select * from (values (1, 'ada', 'gold'), (2, 'bo', 'silver'), (3, 'cy', 'gold')) t(id, name, tier)
    """,
    "steps/dbt_customers.yml": """
        dbt: run --select customers
        project_dir: analytics             # (where it runs too: dbt.duckdb lands there)
        env: {DBT_SEND_ANONYMOUS_USAGE_STATS: "false"}
        downstream: [crm.customers]
        timeout: 300
    """,
    "sources/crm.yml": """
        type: files
        tables:
          customers: {path: out/customers.parquet}
    """,
    "models/gold.sql": "select name from crm.customers where tier = 'gold'",
    "out/.keep": "",
}


def test_a_dbt_project_runs_as_a_step_and_its_output_feeds_a_model(tmp_path: Path) -> None:
    _dbt()
    root = write_project(tmp_path, FILES)
    with Project.load(root) as project:
        result = project.run()
        tasks = {t.name: t for t in result.tasks}
        assert result.ok, [t.error for t in result.tasks if t.error]
        assert project.query("select name from gold order by name").to_pylist() == [
            {"name": "ada"},
            {"name": "cy"},
        ]
    step = tasks["steps.dbt_customers"]
    assert step.status == "built" and step.detail["exit_code"] == 0
    assert "Completed successfully" in step.detail["output"]

    broken = root / "analytics" / "models" / "customers.sql"
    broken.write_text("select * from a_table_that_is_not_there")
    with Project.load(root) as project:
        failed = project.run()
    status = {t.name: t.status for t in failed.tasks}
    assert status["steps.dbt_customers"] == "failed"
    assert status["crm.customers"] == "upstream_failed"
    failing = next(t for t in failed.tasks if t.name == "steps.dbt_customers")
    assert "a_table_that_is_not_there" in failing.detail["output"]
