"""Write the demo shop project: configuration, models, README and the raw data files.

The project files (``headgate.yml``, ``sources/``, ``models/``) are kept verbatim in the
package under ``headgate/demo/project/`` so the SQL stays readable and reviewable; they
are copied as they are. The data files are generated, in three formats on purpose
(Parquet, CSV, newline-delimited JSON), because a real shop's exports never agree on one.

Same ``seed`` and ``orders`` give byte-identical files: the generator is seeded once and
every writer below emits rows in a fixed order with fixed number formatting.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from headgate.demo.catalog import make_customers, make_products
from headgate.demo.orders import ItemRows, OrderRows, PaymentRows, make_orders
from headgate.demo.summary import DemoDefect, DemoSummary
from headgate.errors import HeadgateError

DEFAULT_ORDERS = 120_000
MIN_ORDERS = 1_000
GITIGNORE = ".headgate/\n"
CUSTOMER_HEADER = ("id", "name", "email", "country", "signed_up_at", "segment")
PRODUCT_HEADER = ("id", "sku", "name", "category", "price", "cost", "weight")


def write_demo_project(
    target: Path,
    *,
    orders: int = DEFAULT_ORDERS,
    seed: int = 42,
    overwrite: bool = False,
    postgres_url: str | None = None,
    schema_prefix: str = "",
    spark_master: str | None = None,
) -> DemoSummary:
    """Write a complete headgate project for an online shop into ``target``.

    Refuses a ``target`` that exists and holds anything, unless ``overwrite``; then it
    replaces only the files it writes and leaves the rest (notably ``.headgate/`` with the
    warehouse and run history) alone. Returns the row counts and the planted defects.

    With ``postgres_url`` the project's warehouse is that PostgreSQL database: headgate.yml
    reads the URL as ``${secret:WAREHOUSE_URL}`` and the URL itself goes to
    ``.headgate/secrets.yml``, out of git. With ``spark_master`` (``local[2]``) it is a
    Spark running in the headgate process, its tables and metastore under ``.headgate/spark/``.
    """
    target = Path(target)
    _check_target(target, overwrite)
    if orders < MIN_ORDERS:
        raise HeadgateError(
            f"the demo needs at least {MIN_ORDERS:,} orders, got {orders:,}",
            hint="smaller histories leave too few rows to plant every kind of defect",
        )
    rng = np.random.default_rng(seed)
    scale = orders / DEFAULT_ORDERS
    customers = make_customers(rng, max(100, round(orders / 10)), scale)
    products = make_products(rng, min(500, max(50, orders // 20)))
    generated = make_orders(rng, orders, customers, products, scale)

    target.mkdir(parents=True, exist_ok=True)
    _copy_tree(resources.files("headgate.demo").joinpath("project"), target)
    (target / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    if postgres_url is not None:
        _use_postgres(target, postgres_url, schema_prefix)
    elif spark_master is not None:
        _use_spark(target, spark_master)
    data = target / "data"
    data.mkdir(exist_ok=True)
    _write_csv(data / "customers.csv", CUSTOMER_HEADER, customers.rows)
    _write_csv(data / "products.csv", PRODUCT_HEADER, products.rows)
    _write_orders(data / "orders.parquet", generated.orders)
    _write_items(data / "order_items.parquet", generated.items)
    _write_payments(data / "payments.ndjson", generated.payments)

    summary = DemoSummary(
        path=target,
        orders=len(generated.orders.id),
        customers=len(customers.rows),
        products=len(products.rows),
        order_items=len(generated.items.order_id),
        payments=len(generated.payments.id),
        defects=customers.defects + products.defects + generated.defects,
    )
    (target / "README.md").write_text(render_readme(summary, seed=seed), encoding="utf-8")
    return summary


def render_readme(summary: DemoSummary, *, seed: int) -> str:
    """The demo project's README: its data, the defects with their counts, what to try."""
    template = resources.files("headgate.demo").joinpath("readme_template.md")
    return Template(template.read_text(encoding="utf-8")).substitute(
        orders=f"{summary.orders:,}",
        customers=f"{summary.customers:,}",
        products=f"{summary.products:,}",
        order_items=f"{summary.order_items:,}",
        payments=f"{summary.payments:,}",
        seed=seed,
        defect_table=_defect_table(summary.defects),
    )


def _defect_table(defects: Sequence[DemoDefect]) -> str:
    """The defects as a Markdown table, in the order the summary lists them."""
    lines = [
        "| table | column | kind | rows | what it looks like |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for d in defects:
        column = f"`{d.column}`" if d.column else ""
        lines.append(f"| `{d.table}` | {column} | {d.kind} | {d.rows:,} | {d.description} |")
    return "\n".join(lines)


def _use_postgres(target: Path, url: str, schema_prefix: str) -> None:
    """Point the project at a PostgreSQL warehouse; the URL (maybe with a password) stays secret."""
    import yaml

    config = target / "headgate.yml"
    text = config.read_text(encoding="utf-8")
    head = text.split("engine:", 1)[0]
    block = "engine:\n  type: postgres\n  url: ${secret:WAREHOUSE_URL}\n"
    if schema_prefix:
        block += f"  schema_prefix: {schema_prefix}\n"
    config.write_text(head + block, encoding="utf-8")
    secrets = target / ".headgate" / "secrets.yml"
    secrets.parent.mkdir(exist_ok=True)
    known = yaml.safe_load(secrets.read_text(encoding="utf-8")) if secrets.exists() else None
    values = known if isinstance(known, dict) else {}
    values["WAREHOUSE_URL"] = url
    secrets.write_text(yaml.safe_dump(values), encoding="utf-8")
    secrets.chmod(0o600)


def _use_spark(target: Path, master: str) -> None:
    """Point the project at a local Spark (tables and metastore under ``.headgate/spark/``)."""
    config = target / "headgate.yml"
    head = config.read_text(encoding="utf-8").split("engine:", 1)[0]
    config.write_text(f"{head}engine:\n  type: spark\n  master: '{master}'\n", encoding="utf-8")


def _check_target(target: Path, overwrite: bool) -> None:
    """Refuse to mix the demo into a folder that holds something, unless asked to."""
    if target.exists() and not target.is_dir():
        raise HeadgateError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise HeadgateError(
            f"{target} is not empty; the demo writes into a new or empty folder",
            hint="choose another folder, or allow overwriting (only the demo's own files "
            "are replaced; .headgate/ is kept)",
        )


def _copy_tree(source: Traversable, target: Path) -> None:
    """Copy the packaged project files, skipping Python's byte-code caches."""
    for entry in source.iterdir():
        if entry.name == "__pycache__" or entry.name.endswith(".pyc"):
            continue
        if entry.is_dir():
            (target / entry.name).mkdir(exist_ok=True)
            _copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A CSV as a typical export writes it: comma-separated, quoted only where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _write_orders(path: Path, rows: OrderRows) -> None:
    """orders.parquet, with a real null (not 0) where the customer is missing."""
    table = pa.table(
        {
            "id": pa.array(rows.id, pa.int64()),
            "customer_id": pa.array(rows.customer_id, pa.int64(), mask=rows.customer_missing),
            "ordered_at": pa.array(rows.ordered_at_us, pa.timestamp("us")),
            "status": pa.array(rows.status, pa.string()),
            "channel": pa.array(rows.channel, pa.string()),
            "currency": pa.array(rows.currency, pa.string()),
        }
    )
    pq.write_table(table, path, compression="zstd")


def _write_items(path: Path, rows: ItemRows) -> None:
    """order_items.parquet; prices are in the order's currency, discount a fraction."""
    table = pa.table(
        {
            "order_id": pa.array(rows.order_id, pa.int64()),
            "line": pa.array(rows.line, pa.int32()),
            "product_id": pa.array(rows.product_id, pa.int64()),
            "quantity": pa.array(rows.quantity, pa.int32()),
            "unit_price": pa.array(rows.unit_price, pa.float64()),
            "discount": pa.array(rows.discount, pa.float64()),
        }
    )
    pq.write_table(table, path, compression="zstd")


def _write_payments(path: Path, rows: PaymentRows) -> None:
    """payments.ndjson: one JSON object per line, amounts in cents precision, ISO times."""
    paid_at = np.datetime_as_string(rows.paid_at_s.astype("datetime64[s]"), unit="s").tolist()
    lines = [
        f'{{"id":{i},"order_id":{o},"method":"{m}","amount":{a:.2f},"paid_at":"{t}"}}\n'
        for i, o, m, a, t in zip(
            rows.id.tolist(),
            rows.order_id.tolist(),
            rows.method,
            rows.amount.tolist(),
            paid_at,
            strict=True,
        )
    ]
    path.write_text("".join(lines), encoding="utf-8")
