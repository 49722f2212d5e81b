"""The benchmark's data: made once in DuckDB, then handed to each tool in the form it reads.

headgate, the floor and the profile read the DuckDB file; Great Expectations reads a
Parquet file written once from it (into pandas); Soda gets its own DuckDB file, written
by its own duckdb from the same Parquet (it pins an older DuckDB that cannot open
files of DuckDB 2.0); PostgreSQL gets the rows through ``COPY`` from a CSV written by
DuckDB. None of this preparation is part of any measurement.

It runs in a process of its own (``python bench/_checks_data.py COMMAND ...``), so the
benchmark's own process stays small: on Linux a child's reported peak memory starts
from its parent's peak, and DuckDB keeps what it allocated for the 10-million-row
table until the process ends.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _checks_spec as spec
import duckdb

if TYPE_CHECKING:
    import psycopg

TABLE = "bench.orders"
MARK = "BENCH-RESULT "
PG_TYPES = {
    "id": "bigint",
    "order_id": "bigint",
    "line": "integer",
    "customer_id": "bigint",
    "quantity": "integer",
    "amount": "double precision",
    "status": "text",
    "email": "text",
    "created_at": "timestamp",
    "category": "text",
}


def generate(database: Path, rows: int, now: datetime) -> float:
    """Create ``bench.orders`` with ``rows`` rows in a fresh DuckDB file; return the seconds."""
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE SCHEMA bench")
        con.execute(spec.table_sql(rows, now, TABLE))
        con.execute("CHECKPOINT")
    return time.perf_counter() - started


def export(database: Path, target: Path, options: str) -> float:
    """COPY the table to a file (``FORMAT parquet`` or ``FORMAT csv, HEADER``)."""
    target.unlink(missing_ok=True)
    started = time.perf_counter()
    with duckdb.connect(str(database), read_only=True) as con:
        con.execute(f"COPY {TABLE} TO '{target}' ({options})")
    return time.perf_counter() - started


def planted(database: Path, now: datetime) -> dict[str, int]:
    """How many rows of each planted problem the table holds (for the README and the JSON)."""
    counts = {
        "customer_id null": "customer_id IS NULL",
        "quantity 0": "quantity = 0",
        "amount negative": "amount < 0",
        "status unknown": "status = 'unknown'",
        "email without @": "email NOT LIKE '%@%'",
        "created_at in the future": f"created_at > {spec.sql_time(now)}",
        "category lower-case": "category LIKE 'c%'",
    }
    select = ", ".join(f"count(*) FILTER (WHERE {c})" for c in counts.values())
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute(f"SELECT {select} FROM {TABLE}").fetchall()[0]
        extra = con.execute(
            f"SELECT (SELECT count(*) - count(DISTINCT email) FROM {TABLE}),"
            f" (SELECT count(*) - count(DISTINCT (order_id, line)) FROM {TABLE})"
        ).fetchall()[0]
    found = dict(zip(counts, (int(v) for v in row), strict=True))
    found["email repeated (extra copies)"] = int(extra[0])
    found["order_id, line repeated (extra copies)"] = int(extra[1])
    return found


# ---------------------------------------------------------------- PostgreSQL


def pg_connect(url: str) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def pg_version(url: str) -> str:
    with pg_connect(url) as con:
        return str(con.execute("SHOW server_version").fetchall()[0][0])


def load_postgres(url: str, schema: str, database: Path, work: Path) -> float:
    """Create ``schema.orders`` and COPY the rows in; VACUUM ANALYZE so no read pays hint bits."""
    csv = work / "orders.csv"
    started = time.perf_counter()
    export(database, csv, "FORMAT csv, HEADER")
    columns = ", ".join(f'"{name}" {kind}' for name, kind in PG_TYPES.items())
    with pg_connect(url) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.execute(f'CREATE SCHEMA "{schema}"')
        con.execute(f'CREATE TABLE "{schema}".orders ({columns})')
        with con.cursor() as cur, csv.open("rb") as source:
            command = f'COPY "{schema}".orders FROM STDIN (FORMAT csv, HEADER true)'
            with cur.copy(command) as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        con.execute(f'VACUUM (ANALYZE) "{schema}".orders')
    csv.unlink()
    return time.perf_counter() - started


def drop_postgres(url: str, schema: str) -> None:
    with pg_connect(url) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main(argv: list[str]) -> int:
    """``generate DB ROWS NOW`` | ``export DB TARGET OPTIONS`` | ``postgres SCHEMA DB WORK``
    (the URL from HEADGATE_TEST_POSTGRES); prints ``BENCH-RESULT {json}``."""
    command, args = argv[1], argv[2:]
    payload: dict[str, object]
    if command == "generate":
        now = datetime.fromisoformat(args[2])
        payload = {"seconds": generate(Path(args[0]), int(args[1]), now)}
        payload["planted"] = planted(Path(args[0]), now)
    elif command == "export":
        payload = {"seconds": export(Path(args[0]), Path(args[1]), args[2])}
    elif command == "postgres":
        url = os.environ["HEADGATE_TEST_POSTGRES"]
        payload = {"seconds": load_postgres(url, args[0], Path(args[1]), Path(args[2]))}
    else:
        raise SystemExit(f"unknown command {command}")
    print(MARK + json.dumps(payload), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
