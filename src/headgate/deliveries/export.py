"""Export: a model's rows written to one CSV, Parquet, JSON or NDJSON file.

The model is read whole through the engine as Arrow, then written to a temporary
file that replaces the destination in one rename (see ``files``). A model that
cannot be read fails before any file is opened, so the previous export stays.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.deliveries.base import DeliveryContext, DeliveryResult, DeliveryType
from headgate.deliveries.config import Delivery, ExportConfig
from headgate.deliveries.files import atomic_write, output_path, shown
from headgate.deliveries.queries import model_sql
from headgate.errors import HeadgateError

if TYPE_CHECKING:
    import pyarrow as pa


class ExportType(DeliveryType[ExportConfig]):
    name = "export"
    config_model = ExportConfig

    def reads(self, delivery: Delivery) -> list[str]:
        return [self.config(delivery).model]

    def run(self, delivery: Delivery, ctx: DeliveryContext) -> DeliveryResult:
        config = self.config(delivery)
        table = ctx.session.arrow(model_sql(config.model, ctx.resolve, environment=ctx.environment))
        fmt = config.resolved_format()
        path = output_path(config.path, ctx, delivery.name)
        with atomic_write(path) as temporary:
            WRITERS[fmt](table, temporary)
        return DeliveryResult(
            delivery.name,
            self.name,
            "delivered",
            outputs=[path],
            rows=table.num_rows,
            message=f"{table.num_rows:,} rows of {config.model} to {shown(path, ctx.root)}",
        )


def write_csv(table: pa.Table, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        pacsv.write_csv(table, path)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
        raise HeadgateError(
            f"cannot write CSV: {exc}",
            hint="CSV holds flat values only; export lists and structs as parquet or json",
        ) from None


def write_parquet(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd")


def write_json(table: pa.Table, path: Path) -> None:
    """A JSON array of objects, one per row, written batch by batch."""
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        first = True
        for row in _rows(table):
            out.write("\n  " if first else ",\n  ")
            out.write(json.dumps(row, default=json_value, ensure_ascii=False))
            first = False
        out.write("\n]\n" if not first else "]\n")


def write_ndjson(table: pa.Table, path: Path) -> None:
    """Newline-delimited JSON: one object per line, the shape log shippers and warehouses load."""
    with path.open("w", encoding="utf-8") as out:
        for row in _rows(table):
            out.write(json.dumps(row, default=json_value, ensure_ascii=False))
            out.write("\n")


def _rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=10_000):
        yield from batch.to_pylist()


def json_value(value: Any) -> Any:
    """JSON for the Python values Arrow hands back that ``json`` does not know."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)  # a JSON number, as readers expect; exact to 15 significant digits
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)  # UUID and the like


WRITERS: dict[str, Callable[[pa.Table, Path], None]] = {
    "csv": write_csv,
    "parquet": write_parquet,
    "json": write_json,
    "ndjson": write_ndjson,
}
