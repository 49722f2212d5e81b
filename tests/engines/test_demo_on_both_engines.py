"""The demo built on DuckDB and on PostgreSQL publishes the same data and catches the same defects.

Every published model and source is read whole from each engine; its rows, normalized
(numbers to 9 significant digits, integers, decimals and floats alike), give a row count and an
order-independent checksum that must be identical. The DuckDB-dialect SQL reaches
PostgreSQL through the engine's transpiling: ``* EXCLUDE``, ``QUALIFY``,
``regexp_full_match``, ``round`` of a double, integer division.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from headgate import Project
from headgate.demo import write_demo_project
from headgate.runtime.results import RunResult

pytestmark = pytest.mark.services

ORDERS = 3000


def normalized(value: Any) -> Any:
    """A value as both engines agree to write it: a number is a number, whatever its type."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        number = float(f"{float(value):.9g}")
        return 0.0 if number == 0 else number  # -0.0 too
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def fingerprint(project: Project, name: str) -> tuple[int, list[str], str]:
    table = project.query(f"select * from {name}")
    rows = sorted(repr(tuple(normalized(v) for v in row.values())) for row in table.to_pylist())
    digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return table.num_rows, table.column_names, digest


def build(root: Path) -> tuple[RunResult, dict[str, tuple[int, list[str], str]]]:
    with Project.load(root) as project:
        result = project.run()
        published = sorted(project.state.env_models("prod"))
        return result, {name: fingerprint(project, name) for name in published}


def checks_of(result: RunResult) -> dict[str, tuple[str, int | None]]:
    return {c.name: (c.status, c.failing_rows) for t in result.tasks for c in t.checks}


def test_the_demo_publishes_identical_data_and_findings_on_duckdb_and_postgres(
    postgres_url: str, pg_prefix: str, tmp_path: Path
) -> None:
    write_demo_project(tmp_path / "duckdb", orders=ORDERS)
    write_demo_project(
        tmp_path / "postgres", orders=ORDERS, postgres_url=postgres_url, schema_prefix=pg_prefix
    )
    on_duckdb, duckdb_data = build(tmp_path / "duckdb")
    on_postgres, postgres_data = build(tmp_path / "postgres")
    assert on_duckdb.status == on_postgres.status == "success"
    assert len(duckdb_data) == 25  # 5 sources, 19 models and the Python one
    assert sorted(postgres_data) == sorted(duckdb_data)
    for name, (rows, columns, digest) in duckdb_data.items():
        assert postgres_data[name][:2] == (rows, columns), name
        assert postgres_data[name][2] == digest, f"{name}: same rows, other values"
    findings = checks_of(on_duckdb)
    assert checks_of(on_postgres) == findings
    assert {status for status, _ in findings.values()} == {"pass", "warn"}
    assert findings["staging.order_items.quantity.range"][1]  # the planted bad quantities
