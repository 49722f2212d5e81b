"""The source table in PostgreSQL, the CPU the database server spends, and the loaded end state.

The table is generated inside PostgreSQL with ``generate_series``, so no client
pays for producing it, and is kept between runs: one table per row count
(``bench_ingest.orders_<rows>``), recognised by its comment (the layout
version and the row count) and a ``count(*)`` that also warms the OS page
cache, so the first tool measured does not read from disk while the others
read from memory.

The server's CPU matters twice: it is real work every loader causes (a COPY
encodes each row), and it is not part of the measured process tree, so without
subtracting it every load would look like a measurement disturbed by others.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "bench_ingest"
LAYOUT = 1  # bump when COLUMNS changes: an older table is then rebuilt
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# name -> (PostgreSQL type, expression over i = 1..rows)
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("bigint", "i"),
    "customer_id": ("integer", "((i * 7919) % 100000)::integer"),
    "quantity": ("integer", "(1 + i % 20)::integer"),
    "amount": ("numeric(12,2)", "round(((i % 100000) * 0.37 + 1)::numeric, 2)"),
    "discount": ("numeric(12,2)", "case when i % 13 = 0 then null else (i % 50)::numeric / 4 end"),
    "price": ("double precision", "(i % 1000) / 7.0"),
    "status": (
        "text",
        "(array['placed','shipped','delivered','returned','cancelled'])[1 + (i % 5)::integer]",
    ),
    "note": ("text", "md5(i::text)"),
    "created_at": (
        "timestamptz",
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '6 seconds'",
    ),
    "order_date": ("date", "date '2024-01-01' + (i / 20000)::integer"),
    "is_paid": ("boolean", "i % 3 <> 0"),
}


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    rows: int

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def source_table(rows: int) -> SourceTable:
    return SourceTable(SCHEMA, f"orders_{rows}", rows)


def _connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _comment(table: SourceTable) -> str:
    return f"headgate ingest benchmark: layout {LAYOUT}, {table.rows} rows"


def ensure_table(url: str, table: SourceTable) -> dict[str, object]:
    """Create ``table`` unless an identical one exists; return what was done and its size."""
    started = time.perf_counter()
    with _connect(url) as con:
        found = con.execute(
            "select obj_description(to_regclass(%s), 'pg_class')", (table.qualified,)
        ).fetchone()
        reused = bool(found and found[0] == _comment(table)) and _count(con, table) == table.rows
        if not reused:
            _create(con, table)
            _count(con, table)
        size = con.execute(
            "select pg_total_relation_size(to_regclass(%s))", (table.qualified,)
        ).fetchone()
    return {
        "table": table.qualified,
        "rows": table.rows,
        "columns": {name: kind for name, (kind, _expr) in COLUMNS.items()},
        "reused": reused,
        "prepare_s": round(time.perf_counter() - started, 2),
        "size_mb": round(int(size[0]) / 2**20, 1) if size else None,
    }


def _count(con: Any, table: SourceTable) -> int:
    return int(con.execute(f"select count(*) from {table.qualified}").fetchone()[0])


def _create(con: Any, table: SourceTable) -> None:
    """Generate the rows in the server; VACUUM ANALYZE so no reader pays for hint bits."""
    definition = ", ".join(f"{name} {kind}" for name, (kind, _expr) in COLUMNS.items())
    select = ", ".join(expr for _kind, expr in COLUMNS.values())
    con.execute(f"create schema if not exists {table.schema}")
    con.execute(f"drop table if exists {table.qualified}")
    con.execute(f"create table {table.qualified} ({definition})")
    rows = int(table.rows)  # an int: safe to write into the statement
    con.execute(
        f"insert into {table.qualified} select {select} from generate_series(1::bigint, {rows}) g(i)"
    )
    con.execute(f"vacuum (analyze) {table.qualified}")
    con.execute(f"comment on table {table.qualified} is '{_comment(table)}'")


def drop_schema(url: str) -> None:
    with _connect(url) as con:
        con.execute(f"drop schema if exists {SCHEMA} cascade")


def server_version(url: str) -> str:
    with _connect(url) as con:
        return str(con.execute("show server_version").fetchone()[0])


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL server process so far, finished backends included.

    A backend that exits is reaped by the postmaster, which then holds its CPU time
    in its children's counters (cutime, cstime): the difference between two
    readings is the server's CPU in between, whether a backend lived through it,
    started in it or ended in it.
    """
    total = 0.0
    processes = _postgres_processes()
    for ppid, fields in processes.values():
        total += int(fields[11]) + int(fields[12])
        if ppid not in processes:  # the postmaster
            total += int(fields[13]) + int(fields[14])
    return total / CLOCK_TICKS


def _postgres_processes() -> dict[int, tuple[int, list[str]]]:
    found: dict[int, tuple[int, list[str]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.find("(") + 1 : stat.rfind(")")] != "postgres":
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), fields)
    return found


def loaded_table(database: Path, table: str) -> dict[str, object]:
    """Rows, column types and file size of the loaded end state in a DuckDB file."""
    import duckdb

    if not database.exists():
        return {"error": f"{database.name} does not exist"}
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            rows = int(con.sql(f"select count(*) from {table}").fetchall()[0][0])
            described = con.sql(f"describe {table}").fetchall()
    except duckdb.Error as exc:
        return {"error": " ".join(str(exc).split())[:200]}
    return {
        "rows": rows,
        "types": {str(row[0]): str(row[1]) for row in described},
        "file_mb": round(database.stat().st_size / 2**20, 1),
    }
