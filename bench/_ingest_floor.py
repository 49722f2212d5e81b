"""The floor: one bare connectorx read of the table into Arrow, then CREATE TABLE AS in DuckDB.

Run as its own process by bench/ingest.py, in headgate's virtual environment:

    python _ingest_floor.py WAREHOUSE.duckdb SCHEMA.TABLE      # the URL in BENCH_INGEST_PG_URL

The end state is the one a headgate run leaves: the table's rows in ``pg.orders``
of a fresh DuckDB file. No partitioning, no batching, no checks: the least work
that gets the rows from PostgreSQL into DuckDB through Arrow. Prints
``BENCH-RESULT {json}`` with the time each half took.
"""

from __future__ import annotations

import json
import os
import sys
import time

MARK = "BENCH-RESULT "
URL_VARIABLE = "BENCH_INGEST_PG_URL"


def main(argv: list[str]) -> int:
    import connectorx as cx
    import duckdb

    database, table = argv[1], argv[2]
    started = time.perf_counter()
    arrow_table = cx.read_sql(
        os.environ[URL_VARIABLE], f"select * from {table}", return_type="arrow"
    )
    read = time.perf_counter()
    with duckdb.connect(database) as con:
        con.execute("create schema pg")
        con.execute("create table pg.orders as select * from arrow_table")
    written = time.perf_counter()
    payload = {
        "rows": arrow_table.num_rows,
        "read_s": round(read - started, 3),
        "write_s": round(written - read, 3),
        "arrow_mb": round(arrow_table.nbytes / 2**20, 1),
    }
    print(MARK + json.dumps(payload), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
