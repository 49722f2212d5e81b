"""How each loader is run and checked: the floor, headgate, dlt, each as one subprocess.

Every measurement starts from an empty directory (no warehouse, state or dlt
pipeline left from an earlier one) and ends with the same end state: the
source table's rows in ``pg.orders`` of a DuckDB file, whose row count is
checked against the source before the measurement counts.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from _ingest_data import SourceTable, loaded_table, postgres_cpu_seconds
from _measure import Peer, Result, ensure_peer, measure, set_limits, wait_until_quiet
from _tools import HEADGATE

BENCH = Path(__file__).resolve().parent
STEPS = ("floor", "headgate", "dlt", "dlt_default")
# dlt as sql_table comes out of the box: SQLAlchemy rows, 50,000 per chunk
DLT_DEFAULT_BACKEND, DLT_DEFAULT_CHUNK_ROWS = "sqlalchemy", 50_000
ONCE = frozenset({"dlt_default"})  # measured in the first round only: it takes many minutes
URL_VARIABLE = "BENCH_INGEST_PG_URL"  # the secret every loader reads the URL from
MARK = "BENCH-RESULT "
LOADED = "pg.orders"
DLT = Peer(
    "dlt",
    ["dlt[duckdb,postgres,sql_database]", "connectorx", "pyarrow"],
    "python",
    ["dlt", "duckdb", "pyarrow", "connectorx", "sqlalchemy", "psycopg2-binary"],
)
DLT_BACKENDS = ("connectorx", "connectorx-stream", "pyarrow", "sqlalchemy")
_LIMITS = {"timeout": 3600.0, "quiet_wait": 30.0}


@dataclass(frozen=True)
class Context:
    table: SourceTable
    runs: Path  # one fresh directory per measurement under here
    venvs: Path
    dlt_backend: str
    dlt_chunk_rows: int


def configure(timeout: float, quiet_wait: float) -> None:
    """The quiet-wait happens here, before the server's CPU is read, not inside measure()."""
    _LIMITS.update(timeout=timeout, quiet_wait=quiet_wait)
    set_limits(timeout, 0)


def measured(name: str, command: list[str], cwd: Path) -> Result:
    """measure(), with the database server's CPU counted apart from other processes'.

    PostgreSQL's backend works for the loader but is not in its process tree:
    measure() would count it as another process's CPU and call every load noisy.
    """
    waited = wait_until_quiet(_LIMITS["quiet_wait"])
    before = postgres_cpu_seconds()
    result = measure(name, command, cwd)
    server = postgres_cpu_seconds() - before
    result.detail["waited_for_quiet_s"] = round(waited, 1)
    result.detail["postgres_cpu_s"] = round(server, 2)
    other = result.detail.get("other_cpu_s")
    if isinstance(other, float):
        result.detail["other_cpu_with_postgres_s"] = other
        result.detail["other_cpu_s"] = round(max(0.0, other - server), 2)
    return result


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def run_step(step: str, ctx: Context) -> Result:
    if step == "floor":
        return run_floor(ctx)
    if step == "headgate":
        return run_headgate(ctx)
    if step == "dlt_default":
        return run_dlt(ctx, "dlt_default", DLT_DEFAULT_BACKEND, DLT_DEFAULT_CHUNK_ROWS)
    return run_dlt(ctx, "dlt", ctx.dlt_backend, ctx.dlt_chunk_rows)


def run_floor(ctx: Context) -> Result:
    run = fresh_dir(ctx.runs / "floor")
    database = run / "warehouse.duckdb"
    script = str(BENCH / "_ingest_floor.py")
    result = measured("floor", [sys.executable, script, str(database), ctx.table.qualified], run)
    _read_payload(result)
    _verify(result, database, ctx.table.rows)
    return result


def write_headgate_project(root: Path, table: SourceTable) -> None:
    """One postgres source with one table, read whole (no cursor), and nothing else."""
    (root / "sources").mkdir(parents=True, exist_ok=True)
    (root / "headgate.yml").write_text(
        "name: bench_ingest\nengine:\n  type: duckdb\n  path: .headgate/warehouse.duckdb\n"
    )
    (root / "sources" / "pg.yml").write_text(
        "type: postgres\n"
        f"url: ${{secret:{URL_VARIABLE}}}\n"
        "tables:\n"
        f"  orders: {{table: {table.qualified}}}\n"
    )


def run_headgate(ctx: Context) -> Result:
    run = fresh_dir(ctx.runs / "headgate")
    write_headgate_project(run, ctx.table)
    result = measured("headgate", [str(HEADGATE), "-p", str(run), "run", "--json"], run)
    _read_headgate(result)
    _verify(result, run / ".headgate" / "warehouse.duckdb", ctx.table.rows)
    return result


def _read_headgate(result: Result) -> None:
    """What `run --json` says: the run's status and the source task's rows and seconds."""
    start = result.stdout.find("{")
    try:
        doc = json.loads(result.stdout[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        result.error = result.error or "no JSON on stdout"
        return
    result.detail["run_status"] = doc.get("status")
    result.detail["run_s"] = doc.get("seconds")
    for model in doc.get("models") or []:
        if isinstance(model, dict) and model.get("name") == LOADED:
            result.detail["task_status"] = model.get("status")
            result.detail["task_rows"] = model.get("rows")
            result.detail["task_s"] = model.get("seconds")
    if doc.get("status") != "success" or result.detail.get("task_status") != "built":
        result.error = result.error or f"run {doc.get('status')}: {LOADED} not built"


def run_dlt(ctx: Context, name: str, backend: str, chunk_rows: int) -> Result:
    error = ensure_peer(DLT, ctx.venvs)
    if error:
        return Result(name=name, error=error)
    run = fresh_dir(ctx.runs / name)
    database = run / "warehouse.duckdb"
    command = [
        str(DLT.binary(ctx.venvs)),
        str(BENCH / "_ingest_dlt.py"),
        str(run / "pipelines"),
        str(database),
        ctx.table.schema,
        ctx.table.name,
        backend,
        str(chunk_rows),
    ]
    result = measured(name, command, run)
    _read_payload(result)
    _verify(result, database, ctx.table.rows)
    return result


def _read_payload(result: Result) -> None:
    """The ``BENCH-RESULT {json}`` line a floor or dlt script prints: its stages' times."""
    for line in result.stdout.splitlines():
        if line.startswith(MARK):
            result.detail.update(json.loads(line[len(MARK) :]))
            return
    result.error = result.error or "the script printed no result"


def _verify(result: Result, database: Path, expected: int) -> None:
    """The measurement counts only if the DuckDB file holds every row of the source."""
    found = loaded_table(database, LOADED)
    result.detail["loaded"] = found
    if result.error:
        return
    if "error" in found:
        result.error = f"cannot read {LOADED}: {found['error']}"
    elif found.get("rows") != expected:
        result.error = f"{LOADED} holds {found.get('rows')} rows, the source {expected}"


def keep_fastest(kept: Result | None, new: Result) -> Result:
    """The fastest of the tries, unless one failed: a failure is always shown."""
    tries = [*(kept.tries if kept else []), new.seconds]
    if kept is None or (kept.ok and (not new.ok or (new.seconds or 0) < (kept.seconds or 0))):
        kept = new
    kept.tries = tries
    return kept
