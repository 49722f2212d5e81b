"""One headgate measurement of the checks benchmark, in a process of its own.

    .venv/bin/python bench/_checks_headgate.py STEP CONFIG.json

STEP is one of:

- ``floor``: one bare aggregate scan, ``count(*)`` and ``count``/``min``/``max`` of
  every column in one SELECT: what reading the table once costs, nothing checked;
- ``exact_floor``: the floor, plus the bare SQL any tool must run to decide the checks
  that no aggregate scan answers exactly: one ``GROUP BY key HAVING count(*) > 1`` per
  uniqueness check, and one scan evaluating the regular expressions (no failing-row
  counts beyond that, no samples, the engine's default settings);
- ``fused``: ``run_checks`` once with the 40 checks, end to end (the fused scan, the
  queries of checks that need their own, exact counts and failing-row samples);
- ``scan``: the fused scan's SQL alone (what ``fused`` adds on top of it is the
  follow-up queries and the samples);
- ``per_check``: ``run_checks`` with one check at a time, 40 calls one after another;
- ``profile``: ``profile_table`` of the table.

The checks are parsed by headgate from the model file's YAML block, against the
table's columns, before the clock starts. Only the step's own work is timed; the
process's start-up, imports and connection are in the wall time the caller measures.
The last line of stdout is ``BENCH-RESULT {json}``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlglot import exp

from headgate.checks.compiler import fused_scan
from headgate.checks.parse import parse_model_checks
from headgate.checks.results import CheckResult
from headgate.checks.runner import run_checks
from headgate.checks.spec import Check
from headgate.engines.base import EngineSession, quote
from headgate.project.models import parse_model_file

MARK = "BENCH-RESULT "
Config = dict[str, Any]


def open_session(config: Config) -> EngineSession:
    """The engine's own session, as a run audits a table: PostgreSQL's or DuckDB's."""
    if config["engine"] == "postgres":
        from headgate.engines.postgres import PostgresEngine
        from headgate.project.config import PostgresEngineConfig

        pg = PostgresEngineConfig(type="postgres", url=config["url"])
        return PostgresEngine.open(pg, Path.cwd(), read_only=True).session()
    from headgate.engines.duckdb import DuckDBEngine
    from headgate.project.config import DuckDBEngineConfig

    path = Path(config["database"])
    engine = DuckDBEngine.open(DuckDBEngineConfig(path=str(path)), path.parent, read_only=True)
    return engine.session()


def table_columns(session: EngineSession, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = session.execute(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position"
    )
    return [str(row[0]) for row in rows]


def load_checks(config: Config, columns: list[str]) -> list[Check]:
    """The model's checks, parsed by headgate from the model file's header block."""
    root, relative = Path(config["project"]), Path(config["model"])
    model = parse_model_file(root, relative, (root / relative).read_text(), None)
    return parse_model_checks(model, root, columns)


def floor_sql(table: str, columns: list[str]) -> str:
    parts = ["count(*)"]
    for column in columns:
        c = quote(column)
        parts += [f"count({c})", f"min({c})", f"max({c})"]
    return f"SELECT {', '.join(parts)} FROM {quote(table)}"


def _described(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "status": r.status,
            "failing_rows": r.failing_rows,
            "total_rows": r.total_rows,
            "sample_rows": len(r.sample),
            "seconds": round(r.seconds, 4),
            "message": r.message,
        }
        for r in results
    ]


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    found = work()
    return time.perf_counter() - started, found


def step_floor(session: EngineSession, config: Config, checks: list[Check]) -> Config:
    sql = floor_sql(config["table"], config["columns"])
    seconds, rows = _timed(lambda: session.execute(sql))
    return {"seconds": seconds, "rows": rows[0][0], "sql": sql}


def exact_work_sql(table: str, checks: list[Check], dialect: str) -> list[str]:
    """Bare SQL for the checks an aggregate scan cannot decide exactly (see ``exact_floor``)."""
    found: list[str] = []
    regexes: list[str] = []
    for check in checks:
        params = check.params
        if check.type in ("unique", "unique_combination"):
            keys = [check.column] if check.type == "unique" else list(params.columns)  # type: ignore[union-attr]
            listed = ", ".join(quote(k) for k in keys if k)
            found.append(
                f"SELECT count(*) FROM (SELECT {listed} FROM {quote(table)} "
                f"GROUP BY {listed} HAVING count(*) > 1) AS d"
            )
        elif check.type == "regex":
            match = exp.RegexpLike(
                this=exp.column(str(check.column), quoted=True),
                expression=exp.Literal.string(params.pattern),  # type: ignore[union-attr]
            )
            regexes.append(f"count(CASE WHEN NOT {match.sql(dialect=dialect)} THEN 1 END)")
    if regexes:
        found.append(f"SELECT {', '.join(regexes)} FROM {quote(table)}")
    return found


def step_exact_floor(session: EngineSession, config: Config, checks: list[Check]) -> Config:
    table = config["table"]
    queries = [floor_sql(table, config["columns"])]
    queries += exact_work_sql(table, checks, config["dialect"])
    seconds, _ = _timed(lambda: [session.execute(sql) for sql in queries])
    return {"seconds": seconds, "queries": len(queries), "sql": ";\n".join(queries)}


def step_fused(session: EngineSession, config: Config, checks: list[Check]) -> Config:
    table, dialect = config["table"], config["dialect"]
    seconds, results = _timed(lambda: run_checks(session, table, checks, dialect=dialect))
    return {"seconds": seconds, "checks": _described(results)}


def step_scan(session: EngineSession, config: Config, checks: list[Check]) -> Config:
    fused = fused_scan(config["table"], checks, config["dialect"])
    assert fused.sql is not None
    sql = fused.sql
    seconds, _rows = _timed(lambda: session.execute(sql))
    return {"seconds": seconds, "checks_in_scan": len(fused.slots), "sql": sql}


def step_per_check(session: EngineSession, config: Config, checks: list[Check]) -> Config:
    table, dialect = config["table"], config["dialect"]
    found: list[CheckResult] = []
    started = time.perf_counter()
    for check in checks:
        found += run_checks(session, table, [check], dialect=dialect)
    return {"seconds": time.perf_counter() - started, "checks": _described(found)}


def step_profile(session: EngineSession, config: Config, checks: list[Check]) -> Config:
    try:
        from headgate.checks.profile import profile_table
    except Exception as exc:  # the profiler is reported as an error, never a crash of the run
        raise SystemExit(f"profile_table is not importable: {type(exc).__name__}: {exc}") from None
    table, dialect = config["table"], config["dialect"]
    seconds, profile = _timed(lambda: profile_table(session, table, dialect=dialect))
    return {"seconds": seconds, "rows": profile.rows, "columns": len(profile.columns)}


STEPS = {
    "floor": step_floor,
    "exact_floor": step_exact_floor,
    "fused": step_fused,
    "scan": step_scan,
    "per_check": step_per_check,
    "profile": step_profile,
}


def main(argv: list[str]) -> int:
    step, config = argv[1], json.loads(Path(argv[2]).read_text())
    session = open_session(config)
    try:
        config["columns"] = table_columns(session, config["table"])
        parse_s, checks = _timed(lambda: load_checks(config, config["columns"]))
        payload = STEPS[step](session, config, checks)
    finally:
        session.close()
    payload["parse_checks_s"] = parse_s
    print(MARK + json.dumps(payload, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
