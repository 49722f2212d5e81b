"""Loading one PostgreSQL table into DuckDB: headgate vs a bare connectorx read vs dlt.

One table of `--rows` rows (bench_ingest.orders_<rows>, generated inside
PostgreSQL once and kept) is loaded three ways, each as one subprocess, in one
run: the floor (connectorx into Arrow, then CREATE TABLE AS in DuckDB),
`headgate -p DIR run --json` on a project with one postgres source, and dlt's
sql_table source into its duckdb destination, twice: with its fastest backend
(connectorx, streamed) and as it comes out of the box (SQLAlchemy rows). Targets: headgate at least 0.8x
the floor's rows per second, and at least 3x dlt's. See bench/README.md.

    .venv/bin/python bench/ingest.py                              # 5,000,000 rows, all three
    .venv/bin/python bench/ingest.py --rows 50000 --skip-peers    # smoke check, seconds
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _ingest_data as data
import _ingest_report as report
import _ingest_steps as steps
from _measure import Result, peer_versions
from rich.console import Console

BENCH = Path(__file__).resolve().parent
# Not bench/.work: pipeline.py removes that whole folder when it finishes.
WORK = BENCH / ".work-ingest"
VENVS = BENCH / ".venvs"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
PACKAGES = ("headgate", "duckdb", "pyarrow", "connectorx", "adbc-driver-postgresql", "psycopg")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the source table")
    parser.add_argument("--skip-peers", action="store_true", help="the floor and headgate only")
    parser.add_argument("--only", default="", help=f"comma-separated among {','.join(steps.STEPS)}")
    parser.add_argument(
        "--keep", action="store_true", help="keep bench/.work-ingest (warehouses, logs)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each loader this many times, keep the fastest",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="seconds to wait at most, before each measurement, for other processes to go idle",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per command")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("HEADGATE_TEST_POSTGRES", DEFAULT_PG),
        help="libpq URL of the source (default: $HEADGATE_TEST_POSTGRES or the local test database)",
    )
    parser.add_argument(
        "--dlt-backend",
        choices=steps.DLT_BACKENDS,
        default="connectorx-stream",
        help="dlt's sql_table backend (default: the fastest measured, see bench/README.md)",
    )
    parser.add_argument(
        "--dlt-chunk-rows",
        type=int,
        default=50_000,
        help="rows per batch of dlt's batched backends (default: sql_table's own chunk_size)",
    )
    parser.add_argument(
        "--drop-table", action="store_true", help="drop the bench_ingest schema at the end"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "ingest.json")
    return parser.parse_args(argv)


def selected_steps(args: argparse.Namespace) -> list[str]:
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(steps.STEPS)
    unknown = sorted(set(chosen) - set(steps.STEPS))
    if unknown:
        raise SystemExit(f"unknown steps {unknown}; choose among {', '.join(steps.STEPS)}")
    if args.skip_peers:
        chosen = [s for s in chosen if not s.startswith("dlt")]
    return [s for s in steps.STEPS if s in chosen]


def _announce(console: Console, text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")


def prepare(args: argparse.Namespace, chosen: list[str], console: Console) -> dict[str, object]:
    """The source table, the work directory, the secret, dlt's venv, and warm imports."""
    table = data.source_table(args.rows)
    _announce(console, f"source table {table.qualified} ({args.rows:,} rows) ...")
    facts = data.ensure_table(args.postgres_url, table)
    done = "reused" if facts["reused"] else "created"
    _announce(console, f"  {done} in {facts['prepare_s']} s, {facts['size_mb']} MB in PostgreSQL")
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "runs").mkdir(parents=True)
    (WORK / ".gitignore").write_text("*\n")  # generated warehouses, never committed
    os.environ[steps.URL_VARIABLE] = args.postgres_url  # the loaders' secret, never a file
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    if any(s.startswith("dlt") for s in chosen):
        error = steps.ensure_peer(steps.DLT, VENVS)
        if error:
            _announce(console, f"  dlt: {error}")
    warm_imports(chosen)
    return facts


def warm_imports(chosen: list[str]) -> None:
    """Import each loader's libraries once, unmeasured, so no loader is the one that pays
    for reading them from disk into the page cache."""
    pythons = {sys.executable: "import connectorx, duckdb, pyarrow, headgate.cli.main"}
    dlt_python = steps.DLT.binary(VENVS)
    if any(s.startswith("dlt") for s in chosen) and dlt_python.exists():
        pythons[str(dlt_python)] = "import dlt, connectorx, duckdb, pyarrow, sqlalchemy"
    for python, code in pythons.items():
        subprocess.run([python, "-c", code], capture_output=True, check=False)


def run_all(args: argparse.Namespace, chosen: list[str], console: Console) -> dict[str, Result]:
    """`--repeat` rounds of every loader in turn, so a slow spell of the machine hits all.

    dlt out of the box takes many minutes (SQLAlchemy rows written as INSERT statements):
    it is measured in the first round only.
    """
    ctx = steps.Context(
        data.source_table(args.rows), WORK / "runs", VENVS, args.dlt_backend, args.dlt_chunk_rows
    )
    results: dict[str, Result] = {}
    for attempt in range(1, args.repeat + 1):
        for step in chosen:
            if step in steps.ONCE and attempt > 1:
                continue
            _announce(console, f"{step} ({attempt}/{args.repeat}) ...")
            result = steps.run_step(step, ctx)
            outcome = f"{result.seconds:.2f} s" if result.seconds is not None else ""
            _announce(console, f"  {outcome} {result.error or ''}")
            results[step] = steps.keep_fastest(results.get(step), result)
    return results


def environment(args: argparse.Namespace, chosen: list[str]) -> dict[str, object]:
    env: dict[str, object] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": data.server_version(args.postgres_url),
    }
    env |= {dist: _version(dist) for dist in PACKAGES}
    if any(s.startswith("dlt") for s in chosen) and steps.DLT.binary(VENVS).exists():
        env["dlt"] = peer_versions(steps.DLT, VENVS)
        env["dlt_configuration"] = {
            "source": "dlt.sources.sql_database.sql_table",
            "backend": args.dlt_backend,
            "chunk_rows": args.dlt_chunk_rows,
            "default_backend": steps.DLT_DEFAULT_BACKEND,
            "default_chunk_rows": steps.DLT_DEFAULT_CHUNK_ROWS,
            "write_disposition": "replace",
            "destination": "duckdb",
        }
    return env


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_json(args: argparse.Namespace, payload: dict[str, object]) -> None:
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config.pop("postgres_url", None)  # may carry a password
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": config, **payload}, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    chosen, console = selected_steps(args), Console(width=max(150, Console().width))
    steps.configure(args.timeout, args.quiet_wait)
    source = prepare(args, chosen, console)
    results = run_all(args, chosen, console)
    report.print_report(results, args.rows, console)
    payload: dict[str, object] = {
        "started": started,
        "steps": chosen,
        "source": source,
        "environment": environment(args, chosen),
        "measurements": {name: report.to_json(r, args.rows) for name, r in results.items()},
        "targets": [t.to_json() for t in report.targets(results)],
    }
    write_json(args, payload)
    console.print(f"results written to {args.out}")
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    if args.drop_table:
        data.drop_schema(args.postgres_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
