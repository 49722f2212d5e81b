"""Soda Core on the benchmark's table, through its DuckDB data source.

    bench/.venvs/soda/bin/python bench/_checks_soda.py prepare ORDERS.parquet SODA.duckdb
    bench/.venvs/soda/bin/python bench/_checks_soda.py scan CHECKS.yml SODA.duckdb

Runs in Soda's own virtual environment: ``soda-core-duckdb`` pins an older DuckDB,
which cannot open a file written by DuckDB 2.0, so ``prepare`` writes Soda its own
copy of the table from the same Parquet (not measured). ``scan`` runs the SodaCL file
programmatically with ``soda.scan.Scan``; only ``scan.execute()`` is timed. The last
line of stdout is ``BENCH-RESULT {json}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

MARK = "BENCH-RESULT "


def prepare(parquet: str, database: str) -> dict[str, object]:
    import duckdb

    Path(database).unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(database)
    con.execute(f"CREATE TABLE orders AS SELECT * FROM read_parquet('{parquet}')")
    rows = con.execute("SELECT count(*) FROM orders").fetchall()[0][0]
    con.execute("CHECKPOINT")
    con.close()
    return {"seconds": time.perf_counter() - started, "rows": rows, "duckdb": duckdb.__version__}


def scan(checks: str, database: str) -> dict[str, object]:
    from soda.scan import Scan

    run = Scan()
    run.set_data_source_name("bench")
    run.set_scan_definition_name("checks_benchmark")
    run.add_configuration_yaml_str(
        f"data_source bench:\n  type: duckdb\n  path: {database}\n  read_only: true\n"
    )
    run.add_sodacl_yaml_file(checks)
    started = time.perf_counter()
    exit_code = run.execute()
    seconds = time.perf_counter() - started
    results = run.get_scan_results()
    kept = ("name", "outcome", "definition")
    found = [{key: check.get(key) for key in kept} for check in results.get("checks", [])]
    errors = [log["message"] for log in results.get("logs", []) if log.get("level") == "ERROR"]
    return {
        "seconds": seconds,
        "exit_code": exit_code,
        "checks": found,
        "errors": errors[:20],
        "queries_listed": len(results.get("queries", []) or []),
    }


def main(argv: list[str]) -> int:
    mode, source, database = argv[1], argv[2], argv[3]
    payload = prepare(source, database) if mode == "prepare" else scan(source, database)
    print(MARK + json.dumps(payload, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
