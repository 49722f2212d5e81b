"""40 data checks on a 10-million-row table: headgate's fused scan vs one query per check,
vs Great Expectations and Soda Core, against the floor of one bare scan, side by side.

One table is made inside DuckDB (ten columns, a small share of planted problems), and
the same 40 checks run on it through each tool, each in a process of its own, timed on
the same machine in the same run. With ``--engine postgres`` the same rows are loaded
into PostgreSQL and headgate's fused scan, one query per check and the floor run
there. See bench/README.md for what each number means.

    .venv/bin/python bench/checks.py                          # everything, 10,000,000 rows
    .venv/bin/python bench/checks.py --rows 200000 --skip-peers   # smoke check, seconds
    .venv/bin/python bench/checks.py --engine postgres        # 2,000,000 rows in PostgreSQL
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _checks_data as data
import _checks_report as report
import _checks_spec as spec
from _measure import Peer, Result, ensure_peer, last_line, measure, peer_versions, set_limits
from rich.console import Console

BENCH = Path(__file__).resolve().parent
# Not bench/.work: pipeline.py removes that whole folder when it finishes.
WORK = BENCH / ".work-checks"
VENVS = BENCH / ".venvs"
MODEL = Path("models") / "bench" / "orders.sql"
STEPS = ("floor", "exact_floor", "scan", "fused", "per_check", "profile", "gx", "soda")
PEER_STEPS = ("gx", "soda")
GX = Peer(
    "gx",
    ["great_expectations>=1,<2", "pyarrow"],
    "python",
    ["great_expectations", "pandas", "pyarrow"],
)
SODA = Peer("soda", ["soda-core-duckdb"], "python", ["soda-core", "soda-core-duckdb", "duckdb"])
DEFAULT_ROWS = {"duckdb": 10_000_000, "postgres": 2_000_000}
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
MARK = "BENCH-RESULT "


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows (10M; 2M on postgres)")
    parser.add_argument("--engine", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--skip-peers", action="store_true", help="no Great Expectations, no Soda")
    parser.add_argument("--only", default="", help=f"comma-separated among {','.join(STEPS)}")
    parser.add_argument("--repeat", type=int, default=1, help="tries per step; the fastest kept")
    parser.add_argument(
        "--keep", action="store_true", help="keep bench/.work-checks (data, checks, logs)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="seconds to wait at most, before each measurement, for other processes to go idle",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per command")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (see README)")
    args = parser.parse_args(argv)
    args.rows = args.rows or DEFAULT_ROWS[args.engine]
    if args.out is None:
        suffix = "" if args.engine == "duckdb" else f"-{args.engine}"
        args.out = BENCH / "results" / f"checks{suffix}.json"
    args.postgres_url = os.environ.get("HEADGATE_TEST_POSTGRES", DEFAULT_PG)
    return args


def selected_steps(args: argparse.Namespace) -> list[str]:
    steps = [s.strip() for s in args.only.split(",") if s.strip()] or list(STEPS)
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise SystemExit(f"unknown steps {unknown}; choose among {', '.join(STEPS)}")
    if args.skip_peers or args.engine != "duckdb":
        steps = [s for s in steps if s not in PEER_STEPS]
    return [s for s in STEPS if s in steps]


@dataclass
class Prepared:
    """What the measurements read: the table, the checks in every tool's form, the facts."""

    now: datetime
    specs: list[spec.Spec]
    headgate_config: Path
    gx_missing: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    pg_schema: str | None = None


def _announce(console: Console, text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")


def prepare(args: argparse.Namespace, steps: list[str], console: Console) -> Prepared:
    """Make the table, write the checks for each tool, load PostgreSQL, install the peers."""
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "runs").mkdir(parents=True)
    (WORK / ".gitignore").write_text("*\n")  # generated data, never committed
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    specs = spec.build_specs(args.rows, now)
    database = WORK / "warehouse.duckdb"
    _announce(console, f"making {args.rows:,} rows in DuckDB")
    made = _data_step("generate", str(database), str(args.rows), now.isoformat())
    facts: dict[str, Any] = {"rows": args.rows, "now": now.isoformat(sep=" ")}
    facts |= {"generate_s": round(made["seconds"], 2), "planted": made["planted"]}
    model = WORK / "project" / MODEL
    model.parent.mkdir(parents=True)
    model.write_text(spec.headgate_model(specs, "raw.orders"))
    config: dict[str, Any] = {"project": str(WORK / "project"), "model": str(MODEL)}
    config |= {"engine": "duckdb", "dialect": "duckdb", "database": str(database)}
    config["table"] = data.TABLE
    prepared = Prepared(now, specs, WORK / "headgate.json", facts=facts)
    if args.engine == "postgres":
        config |= _load_postgres(args, prepared, console)
    prepared.headgate_config.write_text(json.dumps(config, indent=2))
    _prepare_peers(steps, prepared, console)
    return prepared


def _data_step(*arguments: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one preparation command of _checks_data.py in its own process; stop on failure."""
    command = [sys.executable, str(BENCH / "_checks_data.py"), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    payload = _payload(done.stdout)
    if done.returncode != 0 or payload is None:
        raise SystemExit(f"{arguments[0]} failed: {last_line(done.stderr or done.stdout)}")
    return payload


def _load_postgres(
    args: argparse.Namespace, prepared: Prepared, console: Console
) -> dict[str, Any]:
    """The rows in a schema of their own in PostgreSQL; the config headgate's steps read."""
    prepared.pg_schema = f"headgate_bench_checks_{os.getpid()}"
    _announce(console, f"loading the rows into PostgreSQL ({prepared.pg_schema})")
    env = {**os.environ, "HEADGATE_TEST_POSTGRES": args.postgres_url}
    database = str(WORK / "warehouse.duckdb")
    loaded = _data_step("postgres", prepared.pg_schema, database, str(WORK), env=env)
    prepared.facts["postgres_load_s"] = round(loaded["seconds"], 2)
    table = f"{prepared.pg_schema}.orders"
    return {"engine": "postgres", "dialect": "postgres", "url": args.postgres_url, "table": table}


def _prepare_peers(steps: list[str], prepared: Prepared, console: Console) -> None:
    """Parquet for both peers, GE's expectations, Soda's checks file and its copy of the data."""
    if not any(step in PEER_STEPS for step in steps):
        return
    database, parquet_file = str(WORK / "warehouse.duckdb"), str(WORK / "orders.parquet")
    parquet = _data_step("export", database, parquet_file, "FORMAT parquet")
    prepared.facts["parquet_s"] = round(parquet["seconds"], 2)
    if "gx" in steps:
        plan, prepared.gx_missing = spec.gx_plan(prepared.specs, prepared.now)
        (WORK / "gx.json").write_text(json.dumps(plan, indent=2))
        _install(GX, prepared, "gx", console)
    if "soda" in steps:
        (WORK / "soda.yml").write_text(spec.soda_checks_yaml(prepared.specs, "orders"))
        if _install(SODA, prepared, "soda", console):
            _soda_copy(prepared, console)


def _install(peer: Peer, prepared: Prepared, step: str, console: Console) -> bool:
    _announce(console, f"{peer.name}: checking its virtual environment")
    error = ensure_peer(peer, VENVS)
    if error:
        prepared.errors[step] = error
    return error is None


def _soda_copy(prepared: Prepared, console: Console) -> None:
    """Soda's own DuckDB file, written by Soda's duckdb from the Parquet (not measured)."""
    _announce(console, "soda: writing its copy of the table with its own duckdb")
    command = [str(SODA.binary(VENVS)), str(BENCH / "_checks_soda.py"), "prepare"]
    command += [str(WORK / "orders.parquet"), str(WORK / "soda.duckdb")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    payload = _payload(done.stdout)
    if done.returncode != 0 or payload is None:
        prepared.errors["soda"] = f"copy failed: {last_line(done.stderr or done.stdout)}"
        return
    prepared.facts["soda_copy_s"] = round(float(payload["seconds"]), 2)


def _payload(stdout: str) -> dict[str, Any] | None:
    """The worker's ``BENCH-RESULT {json}`` line."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            found: dict[str, Any] = json.loads(line[len(MARK) :])
            return found
    return None


def command_for(step: str, prepared: Prepared) -> list[str]:
    if step == "gx":
        inputs = [WORK / "gx.json", WORK / "orders.parquet"]
        return [str(GX.binary(VENVS)), str(BENCH / "_checks_gx.py"), *map(str, inputs)]
    if step == "soda":
        inputs = [WORK / "soda.yml", WORK / "soda.duckdb"]
        return [str(SODA.binary(VENVS)), str(BENCH / "_checks_soda.py"), "scan", *map(str, inputs)]
    worker = BENCH / "_checks_headgate.py"
    return [sys.executable, str(worker), step, str(prepared.headgate_config)]


def run_step(step: str, prepared: Prepared) -> tuple[Result, dict[str, Any] | None]:
    """One measured run of a step: wall time and peak memory of its process, its own timings."""
    if step in prepared.errors:
        return Result(name=step, error=prepared.errors[step]), None
    result = measure(step, command_for(step, prepared), WORK / "runs")
    payload = _payload(result.stdout)
    result.stdout = result.stderr = ""
    if payload is None:
        result.error = result.error or "the step printed no result"
        return result, None
    result.detail["work_s"] = round(float(payload["seconds"]), 4)
    for key in ("load_s", "validate_s", "parse_checks_s"):
        if key in payload:
            result.detail[key] = round(float(payload[key]), 4)
    result.detail["summary"] = summary(step, payload, prepared)
    if step == "soda" and payload.get("errors"):
        result.detail["soda_errors"] = payload["errors"]
    return result, payload


def summary(step: str, payload: dict[str, Any], prepared: Prepared) -> str:
    """What the step found, in a few words, for the table's note column."""
    if step in ("fused", "per_check"):
        statuses = [c["status"] for c in payload["checks"]]
        counts = {s: statuses.count(s) for s in ("pass", "fail", "warn", "error") if s in statuses}
        return f"{len(statuses)} checks: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    if step == "gx":
        ran = len(payload["expectations"])
        return f"{ran} expectations ({len(prepared.gx_missing)} checks have no equivalent)"
    if step == "soda":
        outcomes = [str(c["outcome"]) for c in payload["checks"]]
        counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
        return f"{len(outcomes)} checks: " + ", ".join(f"{n} {o}" for o, n in counts.items())
    if step == "scan":
        return f"{payload['checks_in_scan']} checks in the one scan"
    if step == "exact_floor":
        return f"{payload['queries']} queries"
    if step == "profile":
        return f"{payload['columns']} columns profiled"
    return f"{payload.get('rows', 0):,} rows"


def run_steps(
    steps: list[str], prepared: Prepared, repeat: int, console: Console
) -> tuple[dict[str, Result], dict[str, dict[str, Any]]]:
    """Each step `repeat` times, each in a fresh process; keep the fastest work time."""
    results: dict[str, Result] = {}
    payloads: dict[str, dict[str, Any]] = {}
    for step in steps:
        for attempt in range(1, repeat + 1):
            _announce(console, f"{step} ({attempt}/{repeat}) ...")
            result, payload = run_step(step, prepared)
            took = _work_s(result)
            seconds = None if took == float("inf") else took
            _announce(
                console,
                f"  {step}: {seconds if seconds is not None else ''} s {result.error or ''}",
            )
            tries = [*(results[step].tries if step in results else []), seconds]
            if step not in results or _faster(result, results[step]):
                results[step] = result
                payloads.pop(step, None)
                if payload is not None:
                    payloads[step] = payload
            results[step].tries = tries
    return results, payloads


def _faster(new: Result, kept: Result) -> bool:
    if not kept.ok:
        return False  # a failure is always shown
    if not new.ok:
        return True
    return _work_s(new) < _work_s(kept)


def _work_s(result: Result) -> float:
    value = result.detail.get("work_s")
    return float(value) if isinstance(value, int | float) else float("inf")


def environment(args: argparse.Namespace, steps: list[str]) -> dict[str, Any]:
    env: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for dist in ("headgate", "duckdb", "sqlglot", "psycopg"):
        try:
            env[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            env[dist] = None
    if args.engine == "postgres":
        env["postgresql"] = data.pg_version(args.postgres_url)
    for peer in (GX, SODA):
        if peer.name in steps and peer.binary(VENVS).exists():
            env[peer.name] = peer_versions(peer, VENVS)
    return env


def checks_json(prepared: Prepared) -> list[dict[str, Any]]:
    """Every check as headgate, GE and Soda were given it."""
    found = []
    for item in prepared.specs:
        gx = spec.gx_expectation(item, prepared.now)
        soda_line, soda_config = spec.soda_check(item)
        found.append(
            {
                "name": item.name,
                "type": item.type,
                "column": item.column,
                "params": item.params,
                "where": item.where_sql(),
                "max_failures": item.max_failures,
                "severity": item.severity,
                "gx": gx if isinstance(gx, str) else {"class": gx[0], "kwargs": gx[1]},
                "soda": {soda_line: soda_config},
            }
        )
    return found


def per_check_seconds(payloads: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each check's seconds: its share of the fused run, and its own run alone."""
    found: dict[str, dict[str, float]] = {}
    for step in ("fused", "per_check"):
        for check in payloads.get(step, {}).get("checks", []):
            found.setdefault(check["name"], {})[step] = check["seconds"]
    return found


def write_json(path: Path, args: argparse.Namespace, payload: dict[str, Any]) -> None:
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config.pop("postgres_url", None)  # may carry a password
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": config, **payload}, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # the measured processes inherit it
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    steps, console = selected_steps(args), Console(width=max(150, Console().width))
    set_limits(args.timeout, args.quiet_wait)
    prepared = prepare(args, steps, console)
    try:
        results, payloads = run_steps(steps, prepared, args.repeat, console)
    finally:
        if prepared.pg_schema is not None:
            data.drop_postgres(args.postgres_url, prepared.pg_schema)
    names = [s.name for s in prepared.specs]
    agreement = report.agreement(names, payloads, prepared.gx_missing)
    found_targets = report.targets(results, args.engine)
    title = f"40 checks on {args.rows:,} rows x 10 columns, {args.engine}"
    report.print_measurements(results, title, console)
    report.print_targets(found_targets, console)
    report.print_agreement(agreement, console)
    write_json(
        args.out,
        args,
        {
            "started": started,
            "steps": steps,
            "environment": environment(args, steps),
            "data": prepared.facts,
            "measurements": {name: r.to_json() for name, r in results.items()},
            "targets": [t.to_json() for t in found_targets],
            "agreement": agreement,
            "gx_no_equivalent": prepared.gx_missing,
            "soda_approximations": spec.SODA_NOTES,
            "per_check_seconds": per_check_seconds(payloads),
            "checks": checks_json(prepared),
        },
    )
    console.print(f"results written to {args.out}")
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
