"""The demo shop project: deterministic files, the planted defects, and models that build.

The models are built here straight in DuckDB, in the order their SQL implies (parsed with
sqlglot), so the demo is checked on its own: raw files loaded into schema ``shop``, every
SQL model created as a table, the Python model called with a small context.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
import yaml
from sqlglot import exp

from headgate.demo import DemoDefect, DemoSummary, write_demo_project
from headgate.errors import HeadgateError
from headgate.project.config import ModelOptions

pytestmark = pytest.mark.fast

STATUSES = ("placed", "shipped", "delivered", "returned", "cancelled")

# How a user would count each planted defect in the raw tables.
DEFECT_QUERIES: dict[tuple[str, str | None, str], str] = {
    ("shop.orders", "id", "duplicate_key"): "select count(*) - count(distinct id) from shop.orders",
    ("shop.orders", "customer_id", "null"): (
        "select count(*) from shop.orders where customer_id is null"
    ),
    ("shop.orders", "customer_id", "orphan_reference"): (
        "select count(*) from shop.orders as o where o.customer_id is not null "
        "and not exists (select 1 from shop.customers as c where c.id = o.customer_id)"
    ),
    ("shop.orders", "ordered_at", "future_date"): (
        "select count(*) from shop.orders where ordered_at >= timestamp '2026-11-01'"
    ),
    ("shop.orders", "ordered_at", "epoch_date"): (
        "select count(*) from shop.orders where ordered_at < timestamp '2024-11-01'"
    ),
    ("shop.orders", "status", "mixed_case"): (
        f"select count(*) from shop.orders where status <> lower(status) "
        f"and lower(status) in {STATUSES}"
    ),
    ("shop.orders", "status", "placeholder"): (
        f"select count(*) from shop.orders where status not in {STATUSES} "
        f"and lower(status) not in {STATUSES}"
    ),
    ("shop.order_items", "quantity", "negative_amount"): (
        "select count(*) from shop.order_items where quantity <= 0"
    ),
    ("shop.payments", "amount", "amount_mismatch"): """
        with totals as (
            select order_id, round(sum(quantity * unit_price * (1 - discount)), 2) as total
            from shop.order_items group by order_id
        ), paid as (
            select order_id, sum(amount) as paid from shop.payments group by order_id
        )
        select count(*) from paid join totals using (order_id) where abs(paid - total) > 0.05
    """,
    ("shop.customers", "email", "leading_space"): (
        "select count(*) from shop.customers where email like ' %'"
    ),
    ("shop.customers", "email", "invalid_format"): (
        "select count(*) from shop.customers where email not like '%@%'"
    ),
    ("shop.customers", "country", "placeholder"): (
        "select count(*) from shop.customers where not regexp_full_match(country, '[A-Z]{2}')"
    ),
    ("shop.products", "weight", "number_as_text"): (
        "select count(*) from shop.products "
        "where typeof(weight) = 'VARCHAR' and regexp_matches(weight, '[0-9]')"
    ),
}


class ModelContext:
    """What a Python model receives: other models and SQL, both as Arrow tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def ref(self, name: str) -> pa.Table:
        return self.con.sql("select * from " + name).to_arrow_table()

    def sql(self, query: str) -> pa.Table:
        return self.con.sql(query).to_arrow_table()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return write_demo_project(tmp_path_factory.mktemp("demo") / "shop")


@pytest.fixture(scope="module")
def warehouse(demo: DemoSummary) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    _load_sources(con, demo.path)
    for name, kind, path in _build_order(demo.path):
        schema = name.split(".")[0]
        con.execute(f"create schema if not exists {schema}")
        if kind == "sql":
            con.execute(f"create table {name} as {path.read_text(encoding='utf-8')}")
        else:
            result = _load_python_model(path).model(ModelContext(con))
            assert isinstance(result, pa.Table)
            con.register("python_model_result", result)
            con.execute(f"create table {name} as select * from python_model_result")
            con.unregister("python_model_result")
    yield con
    con.close()


def _load_sources(con: duckdb.DuckDBPyConnection, project: Path) -> None:
    source = yaml.safe_load((project / "sources" / "shop.yml").read_text(encoding="utf-8"))
    readers = {"csv": "read_csv", "parquet": "read_parquet", "ndjson": "read_ndjson"}
    con.execute("create schema shop")
    for table, spec in source["tables"].items():
        reader = readers[spec["format"]]
        path = str(project / spec["path"]).replace("'", "''")
        con.execute(f"create table shop.{table} as select * from {reader}('{path}')")


def _options(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    pattern = r'\A"""headgate:\n(.*?)"""' if path.suffix == ".py" else r"\A/\* headgate:\n(.*?)\*/"
    match = re.match(pattern, text, re.S)
    assert match, f"{path} has no leading headgate block"
    options = yaml.safe_load(match.group(1))
    assert isinstance(options, dict)
    return options


def _models(project: Path) -> dict[str, Path]:
    root = project / "models"
    return {
        ".".join(p.relative_to(root).with_suffix("").parts): p
        for p in sorted(root.rglob("*"))
        if p.suffix in (".sql", ".py")
    }


def _dependencies(path: Path, models: set[str]) -> set[str]:
    if path.suffix == ".py":
        return set(_options(path).get("depends_on", []))
    tree = sqlglot.parse_one(path.read_text(encoding="utf-8"), dialect="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = {f"{t.db}.{t.name}" if t.db else t.name for t in tree.find_all(exp.Table)}
    return (names - ctes) & models


def _build_order(project: Path) -> list[tuple[str, str, Path]]:
    models = _models(project)
    pending = {name: _dependencies(path, set(models)) for name, path in models.items()}
    order: list[tuple[str, str, Path]] = []
    while pending:
        ready = sorted(name for name, deps in pending.items() if not deps)
        assert ready, f"dependency cycle among {sorted(pending)}"
        for name in ready:
            del pending[name]
            order.append((name, models[name].suffix.lstrip("."), models[name]))
        for deps in pending.values():
            deps.difference_update(ready)
    return order


def _load_python_model(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("demo_python_model", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(con: duckdb.DuckDBPyConnection, query: str) -> tuple[Any, ...]:
    rows = con.sql(query).fetchall()
    assert len(rows) == 1, query
    return tuple(rows[0])


def _scalar(con: duckdb.DuckDBPyConnection, query: str) -> Any:
    return _row(con, query)[0]


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _defect(summary: DemoSummary, table: str, column: str, kind: str) -> DemoDefect:
    return next(d for d in summary.defects if (d.table, d.column, d.kind) == (table, column, kind))


def test_same_seed_writes_identical_files(demo: DemoSummary, tmp_path: Path) -> None:
    original = _hashes(demo.path)
    assert _hashes(write_demo_project(tmp_path / "again").path) == original
    reseeded = _hashes(write_demo_project(tmp_path / "other", seed=7).path)
    for data_file in ("orders.parquet", "order_items.parquet", "payments.ndjson", "customers.csv"):
        assert reseeded[f"data/{data_file}"] != original[f"data/{data_file}"]


def test_project_files_follow_the_project_format(demo: DemoSummary) -> None:
    root = demo.path
    config = yaml.safe_load((root / "headgate.yml").read_text(encoding="utf-8"))
    assert config == {
        "name": "shop",
        "engine": {"type": "duckdb", "path": ".headgate/warehouse.duckdb"},
    }
    assert ".headgate/" in (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    source = yaml.safe_load((root / "sources" / "shop.yml").read_text(encoding="utf-8"))
    assert source["type"] == "files"
    assert {t: s["format"] for t, s in source["tables"].items()} == {
        "customers": "csv",
        "products": "csv",
        "orders": "parquet",
        "order_items": "parquet",
        "payments": "ndjson",
    }
    for spec in source["tables"].values():
        assert (root / spec["path"]).is_file()

    models = _models(root)
    assert 14 <= len(models) <= 17
    assert "marts.customer_segments" in models and models["marts.customer_segments"].suffix == ".py"
    for name, path in models.items():
        options = _options(path)
        ModelOptions.model_validate(options)  # exactly the options headgate accepts
        assert options["materialized"] in ("view", "table", "incremental"), name
        assert isinstance(options["description"], str), name
        for column, spec in options.get("columns", {}).items():
            assert isinstance(spec["description"], str), f"{name}.{column}"
    daily = _options(models["marts.daily_revenue"])
    assert daily["materialized"] == "incremental"
    assert (daily["time_column"], daily["interval"], daily["unique_key"]) == (
        "order_date",
        "day",
        "order_date",
    )
    assert str(daily["start"]) == "2024-11-01"
    python_model = models["marts.customer_segments"].read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s+(pandas|polars)\b", python_model, re.M)

    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "headgate run" in readme and "marts.daily_revenue" in readme
    for defect in demo.defects:
        assert f"| {defect.kind} | {defect.rows:,} |" in readme


def test_summary_counts_match_the_files(
    demo: DemoSummary, warehouse: duckdb.DuckDBPyConnection
) -> None:
    counts = {
        table: _scalar(warehouse, f"select count(*) from shop.{table}")
        for table in ("orders", "customers", "products", "order_items", "payments")
    }
    assert counts == {
        "orders": demo.orders,
        "customers": demo.customers,
        "products": demo.products,
        "order_items": demo.order_items,
        "payments": demo.payments,
    }
    assert _scalar(warehouse, "select count(distinct id) from shop.orders") >= 120_000
    assert 11_000 <= demo.customers <= 13_000 and demo.products == 500
    assert 2.2 <= demo.order_items / 120_000 <= 2.8
    assert 0.9 <= demo.payments / 120_000 <= 1.1
    statuses = _scalar(warehouse, "select list(distinct lower(status)) from shop.orders")
    assert set(statuses) == {*STATUSES, "n/a"}


def test_every_planted_defect_is_in_the_raw_data(
    demo: DemoSummary, warehouse: duckdb.DuckDBPyConnection
) -> None:
    planted = {(d.table, d.column, d.kind): d.rows for d in demo.defects}
    assert set(planted) == set(DEFECT_QUERIES)
    found = {key: _scalar(warehouse, query) for key, query in DEFECT_QUERIES.items()}
    assert found == planted
    for defect in demo.defects:
        assert defect.description and "\n" not in defect.description
        if defect.kind != "number_as_text":
            assert 2 <= defect.rows <= 500, defect
    # The dates are wrong in a recognisable way: a year 2031 and a zero timestamp.
    odd_years = _scalar(
        warehouse,
        "select list(distinct year(ordered_at)) from shop.orders "
        "where ordered_at not between '2024-11-01' and '2026-11-01'",
    )
    assert sorted(odd_years) == [1970, 2031]
    mixed = _scalar(
        warehouse,
        "select list(distinct status) from shop.orders "
        f"where status <> lower(status) and lower(status) in {STATUSES}",
    )
    assert "Shipped" in mixed and "SHIPPED" in mixed


def test_staging_keeps_every_row_and_cleans_only_the_obvious(
    demo: DemoSummary, warehouse: duckdb.DuckDBPyConnection
) -> None:
    for table, model in [
        ("orders", "staging.orders"),
        ("customers", "staging.customers"),
        ("products", "staging.products"),
        ("order_items", "staging.order_items"),
        ("payments", "staging.payments"),
    ]:
        assert _scalar(warehouse, f"select count(*) from {model}") == _scalar(
            warehouse, f"select count(*) from shop.{table}"
        )
    placeholder = _defect(demo, "shop.orders", "status", "placeholder").rows
    assert (
        _scalar(warehouse, "select count(*) from staging.orders where status is null")
        == placeholder
    )
    statuses = _scalar(
        warehouse, "select list(distinct status) from staging.orders where status is not null"
    )
    assert set(statuses) == set(STATUSES)
    assert (
        _scalar(warehouse, "select count(*) from staging.customers where email <> trim(email)") == 0
    )
    invalid = _defect(demo, "shop.customers", "email", "invalid_format").rows
    assert (
        _scalar(warehouse, "select count(*) from staging.customers where not email_is_valid")
        == invalid
    )
    countries = _defect(demo, "shop.customers", "country", "placeholder").rows
    assert (
        _scalar(warehouse, "select count(*) from staging.customers where country_code is null")
        == countries
    )
    weights = _row(
        warehouse,
        "select min(weight_kg), max(weight_kg), count(*) filter (where weight_kg is null) "
        "from staging.products",
    )
    assert 0 < weights[0] < weights[1] < 100 and weights[2] == 0


def test_intermediate_models_expose_the_defects(
    demo: DemoSummary, warehouse: duckdb.DuckDBPyConnection
) -> None:
    distinct = _scalar(warehouse, "select count(distinct id) from shop.orders")
    assert _scalar(warehouse, "select count(*) from intermediate.order_facts") == distinct
    duplicates = _defect(demo, "shop.orders", "id", "duplicate_key").rows
    assert (
        _scalar(warehouse, "select count(*) from intermediate.order_facts where export_copies > 1")
        == duplicates
    )
    unknown = sum(
        _defect(demo, "shop.orders", "customer_id", kind).rows
        for kind in ("null", "orphan_reference")
    )
    assert (
        _scalar(warehouse, "select count(*) from intermediate.order_facts where not customer_known")
        == unknown
    )
    suspect = sum(
        _defect(demo, "shop.orders", "ordered_at", kind).rows
        for kind in ("future_date", "epoch_date")
    )
    assert (
        _scalar(warehouse, "select count(*) from intermediate.order_facts where has_suspect_date")
        == suspect
    )
    mismatches = _defect(demo, "shop.payments", "amount", "amount_mismatch").rows
    reconciled = _scalar(
        warehouse,
        "select count(*) from marts.payment_reconciliation "
        "where payment_status in ('underpaid', 'overpaid')",
    )
    assert reconciled == mismatches


def test_marts_hold_plausible_numbers(warehouse: duckdb.DuckDBPyConnection) -> None:
    days = _row(
        warehouse,
        "select count(distinct order_date), min(revenue_eur), sum(revenue_eur) "
        "from marts.daily_revenue where order_date between '2024-11-01' and '2026-10-31'",
    )
    assert days[0] == (date(2026, 10, 31) - date(2024, 11, 1)).days + 1
    assert days[1] > 0 and days[2] > 1_000_000
    # Every euro of daily revenue belongs to a known customer or to an order without one.
    revenue = _scalar(warehouse, "select sum(revenue_eur) from marts.daily_revenue")
    known = _scalar(
        warehouse, "select sum(lifetime_revenue_eur) from marts.customer_lifetime_value"
    )
    unknown = _scalar(
        warehouse, "select sum(revenue_eur) from intermediate.order_facts where not customer_known"
    )
    assert revenue == known + unknown  # money is decimal: exact
    # Later months sell more than earlier ones, and December more than the months around it.
    months = dict(
        warehouse.sql("select month_start, revenue_eur from marts.monthly_kpis").fetchall()
    )
    assert len(months) == 24
    assert months[date(2026, 3, 1)] > months[date(2025, 3, 1)]
    assert months[date(2025, 12, 1)] > months[date(2025, 10, 1)]

    with_orders = _scalar(
        warehouse, "select count(*) from marts.customer_lifetime_value where orders > 0"
    )
    segments = dict(
        warehouse.sql("select segment, count(*) from marts.customer_segments group by 1").fetchall()
    )
    assert sum(segments.values()) == with_orders > 9_000
    assert set(segments) == {"champions", "loyal", "new", "potential", "at_risk", "hibernating"}
    strangers = _scalar(
        warehouse,
        "select count(*) from marts.customer_segments as s "
        "anti join marts.customer_lifetime_value as c on c.customer_id = s.customer_id",
    )
    assert strangers == 0

    products = _row(
        warehouse,
        "select count(*), count(*) filter (where units_sold > 0), sum(revenue_eur), "
        "sum(gross_margin_eur) from marts.product_performance",
    )
    assert products[0] == products[1] == 500
    assert 0 < products[3] < products[2]


def test_incremental_model_builds_inside_a_time_range(
    warehouse: duckdb.DuckDBPyConnection, demo: DemoSummary
) -> None:
    sql = (demo.path / "models" / "marts" / "daily_revenue.sql").read_text(encoding="utf-8")
    day = date(2025, 12, 24)
    rows = warehouse.execute(
        f"select * from ({sql}) where order_date >= ? and order_date < ?",
        [day, day + timedelta(days=1)],
    ).fetchall()
    assert len(rows) == 1 and rows[0][0] == day


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    target = tmp_path / "shop"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(HeadgateError, match="not empty"):
        write_demo_project(target, orders=1_000)
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_overwrite_replaces_the_demo_files_and_keeps_headgate_state(tmp_path: Path) -> None:
    target = tmp_path / "shop"
    first = write_demo_project(target, orders=1_000, seed=1)
    (target / ".headgate").mkdir()
    (target / ".headgate" / "warehouse.duckdb").write_bytes(b"state")
    (target / "models" / "staging" / "orders.sql").write_text("select 1", encoding="utf-8")
    second = write_demo_project(target, orders=1_500, seed=1, overwrite=True)
    assert second.orders > first.orders
    assert (target / ".headgate" / "warehouse.duckdb").read_bytes() == b"state"
    assert "from shop.orders" in (target / "models" / "staging" / "orders.sql").read_text(
        encoding="utf-8"
    )


def test_refuses_a_history_too_small_for_the_defects(tmp_path: Path) -> None:
    with pytest.raises(HeadgateError, match="at least"):
        write_demo_project(tmp_path / "tiny", orders=10)
