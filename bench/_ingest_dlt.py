"""dlt's load of the same table: the sql_table source into the duckdb destination.

Run as its own process by bench/ingest.py, in bench/.venvs/dlt (dlt's own
dependencies, never headgate's):

    python _ingest_dlt.py PIPELINES_DIR WAREHOUSE.duckdb SCHEMA TABLE BACKEND CHUNK_ROWS
    # the URL in BENCH_INGEST_PG_URL; RUNTIME__DLTHUB_TELEMETRY=false in the environment

BACKEND is one of dlt's sql_database backends: ``connectorx-stream`` (connectorx's
``arrow_stream``, batches of CHUNK_ROWS: dlt writes each batch to parquet while
connectorx reads the next; the fastest measured, and the benchmark's default),
``connectorx`` (the whole table as one Arrow table, which sql_table's docstring
calls "typically the fastest"), or ``pyarrow`` (SQLAlchemy rows turned into Arrow
tables of CHUNK_ROWS). The rows land in
``pg.orders`` of the DuckDB file, replaced whole: the end state of a headgate
run. The three stages dlt runs are timed one by one (``pipeline.run`` is the
same three calls) and printed as ``BENCH-RESULT {json}``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

MARK = "BENCH-RESULT "
URL_VARIABLE = "BENCH_INGEST_PG_URL"


def sqlalchemy_url(url: str) -> str:
    """The libpq URL with psycopg2 named as SQLAlchemy's driver: the one dlt[postgres] installs
    (SQLAlchemy 2.1 would otherwise look for psycopg 3). dlt strips the driver again before
    handing the URL to connectorx."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg2://", url)


def resource(schema: str, table: str, backend: str, chunk_rows: int) -> Any:
    from dlt.sources.sql_database import sql_table

    kwargs: dict[str, Any] = {}
    if backend == "connectorx-stream":
        backend, kwargs = "connectorx", {"return_type": "arrow_stream", "batch_size": chunk_rows}
    found = sql_table(
        credentials=sqlalchemy_url(os.environ[URL_VARIABLE]),
        table=table,
        schema=schema,
        backend=backend,
        chunk_size=chunk_rows,
        backend_kwargs=kwargs or None,
        write_disposition="replace",
    )
    found.apply_hints(table_name="orders")
    return found


def main(argv: list[str]) -> int:
    import dlt

    pipelines_dir, database, schema, table, backend, chunk_rows = argv[1:7]
    pipeline = dlt.pipeline(
        pipeline_name="bench_ingest",
        pipelines_dir=pipelines_dir,
        destination=dlt.destinations.duckdb(database),
        dataset_name="pg",
    )
    stages: dict[str, float] = {}
    started = time.perf_counter()
    pipeline.extract(resource(schema, table, backend, int(chunk_rows)))
    stages["extract_s"] = time.perf_counter() - started
    pipeline.normalize()
    stages["normalize_s"] = time.perf_counter() - started - stages["extract_s"]
    info = pipeline.load()
    stages["load_s"] = time.perf_counter() - started - stages["extract_s"] - stages["normalize_s"]
    info.raise_on_failed_jobs()
    payload: dict[str, object] = {name: round(seconds, 3) for name, seconds in stages.items()}
    payload["backend"] = backend
    print(MARK + json.dumps(payload), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
