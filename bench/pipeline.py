"""headgate vs dbt-duckdb vs SQLMesh on one generated layered project, side by side.

The work per model is small on purpose: the benchmark measures what each tool
adds on top of the SQL it runs. The floor is the same CREATE TABLE ... AS
statements executed in one DuckDB connection; every tool is timed against it
on the same machine, in the same run. See bench/README.md for what each
number means.

    .venv/bin/python bench/pipeline.py                      # everything, 1,000 models
    .venv/bin/python bench/pipeline.py --models 20 --rows 10000 --skip-peers   # smoke check
    .venv/bin/python bench/pipeline.py --engine postgres    # floor, headgate, dbt-postgres

With ``--engine postgres`` the same project is built in PostgreSQL ($HEADGATE_TEST_POSTGRES,
or --postgres-url); see ``_pipeline_postgres.py``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import _projects as projects
import _tools as tools
from _measure import PEERS, Result, ensure_peer, peer_versions, set_limits
from _report import print_report, targets
from rich.console import Console

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
RUNS = WORK / "runs"
VENVS = BENCH / ".venvs"
STEPS = ("floor", "headgate", "dbt", "sqlmesh", "plan")
CHECK_SAMPLE = 12


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", type=int, default=None, help="models built (1,000; 200 on postgres)"
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="rows of the seed table (1,000,000; 200,000 on postgres)",
    )
    parser.add_argument("--engine", choices=("duckdb", "postgres", "spark"), default="duckdb")
    parser.add_argument("--postgres-url", default=None, help="default: $HEADGATE_TEST_POSTGRES")
    parser.add_argument(
        "--plan-models",
        type=int,
        default=None,
        help="models in the project that is only planned (default: 10 x --models, 10,000)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generator")
    parser.add_argument("--skip-peers", action="store_true", help="floor, headgate and plan only")
    parser.add_argument("--only", default="", help=f"comma-separated steps among {','.join(STEPS)}")
    parser.add_argument(
        "--keep", action="store_true", help="keep bench/.work (projects, warehouses, logs)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each step this many times, keep the fastest"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="seconds to wait at most, before each measurement, for other processes to go idle",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per command")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "pipeline.json")
    parser.add_argument(
        "--work",
        type=Path,
        default=WORK,
        help="folder of the generated projects and their runs (default bench/.work); "
        "two benchmarks at once need one each",
    )
    args = parser.parse_args(argv)
    use_work(args.work)
    postgres = args.engine == "postgres"
    if args.models is None:
        args.models = 1000 if args.engine == "duckdb" else 200
    if args.rows is None:
        args.rows = 1_000_000 if args.engine == "duckdb" else 200_000
    if postgres and args.out == BENCH / "results" / "pipeline.json":
        args.out = BENCH / "results" / "pipeline_postgres.json"
    if args.engine == "spark" and args.out == BENCH / "results" / "pipeline.json":
        args.out = BENCH / "results" / "pipeline_spark.json"
    if args.plan_models is None:
        args.plan_models = 10 * args.models
    return args


def use_work(folder: Path) -> None:
    """Generate and run under ``folder`` (its ``runs/`` holds the fresh copies run)."""
    global WORK, RUNS
    WORK, RUNS = folder.resolve(), folder.resolve() / "runs"


def selected_steps(args: argparse.Namespace) -> list[str]:
    steps = [s.strip() for s in args.only.split(",") if s.strip()] or list(STEPS)
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise SystemExit(f"unknown steps {unknown}; choose among {', '.join(STEPS)}")
    if args.skip_peers:
        steps = [s for s in steps if s not in PEERS]
    return [s for s in STEPS if s in steps]


def generate(args: argparse.Namespace, steps: list[str], threads: int) -> projects.Dag:
    """Write each selected flavour of the project under bench/.work/<name>/."""
    dag = projects.build_dag(args.models, args.rows, args.seed)
    projects.write_floor(dag, WORK / "floor")
    if "headgate" in steps:
        projects.write_headgate(dag, WORK / "headgate")
    if "dbt" in steps:
        projects.write_dbt(dag, WORK / "dbt", threads)
    if "sqlmesh" in steps:
        projects.write_sqlmesh(dag, WORK / "sqlmesh", threads)
    if "plan" in steps:
        big = projects.build_dag(args.plan_models, args.rows, args.seed)
        projects.write_headgate(big, WORK / "headgate_plan")
    return dag


def _failed(name: str, error: str) -> Result:
    return Result(name=name, error=error)


def _announce(console: Console, text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")


ROUNDS: list[dict[str, tuple[float | None, object]]] = []  # each round: name -> (s, CPU s)


def run_steps(
    steps: list[str], dag: projects.Dag, args: argparse.Namespace, console: Console
) -> dict[str, Result]:
    """Run the steps `--repeat` rounds, each step in a fresh copy; keep the fastest.

    Rounds, not one step's tries after another: on a shared machine the load changes
    from minute to minute, and a floor and a headgate run measured one right after the
    other (``pair_ratios`` in the results) are compared under the same load.
    """
    results: dict[str, Result] = {}
    n, threads = len(dag.models), os.cpu_count() or 1
    for attempt in range(1, args.repeat + 1):
        ROUNDS.append({})
        for step in steps:
            _announce(console, f"{step} ({attempt}/{args.repeat}) ...")
            for name, result in _run_step(step, n, args.plan_models, threads).items():
                outcome = f"{result.seconds:.2f} s" if result.seconds is not None else ""
                _announce(console, f"  {name}: {outcome} {result.error or ''}")
                ROUNDS[-1][name] = (result.seconds, result.detail.get("cpu_s"))
                results[name] = _keep(results.get(name), result)
    return results


def pair_ratios(name: str) -> dict[str, list[float]]:
    """``name``'s seconds and CPU over the floor's, round by round."""
    found: dict[str, list[float]] = {"seconds": [], "cpu": []}
    for measured in ROUNDS:
        if "floor" not in measured or name not in measured:
            continue
        (floor_s, floor_cpu), (seconds, cpu) = measured["floor"], measured[name]
        if floor_s and seconds:
            found["seconds"].append(round(seconds / floor_s, 3))
        if isinstance(floor_cpu, float) and isinstance(cpu, float) and floor_cpu:
            found["cpu"].append(round(cpu / floor_cpu, 3))
    return found


def _keep(kept: Result | None, new: Result) -> Result:
    """The fastest of the tries, unless one failed: a failure is always shown."""
    tries = [*(kept.tries if kept else []), new.seconds]
    if kept is None or (kept.ok and (not new.ok or (new.seconds or 0) < (kept.seconds or 0))):
        kept = new
    kept.tries = tries
    return kept


def _run_step(step: str, n: int, n_plan: int, threads: int) -> dict[str, Result]:
    if step == "floor":
        project = tools.fresh_copy(WORK / "floor", RUNS / "floor")
        return {"floor": tools.run_floor(project, sys.executable)}
    if step == "headgate":
        project = tools.fresh_copy(WORK / "headgate", RUNS / "headgate")
        return {
            "headgate_full": tools.run_headgate("headgate_full", project, n, True),
            "headgate_nochange": tools.run_headgate("headgate_nochange", project, n, False),
        }
    if step == "plan":
        project = tools.fresh_copy(WORK / "headgate_plan", RUNS / "headgate_plan")
        return {
            "plan_cold": tools.run_headgate_plan("plan_cold", project, n_plan, True),
            "plan_warm": tools.run_headgate_plan("plan_warm", project, n_plan, False),
        }
    return _run_peer(step, n, threads)


def _run_peer(step: str, n: int, threads: int) -> dict[str, Result]:
    peer = PEERS[step]
    names = ("dbt_full", "dbt_nochange") if step == "dbt" else ("sqlmesh_first", "sqlmesh_nochange")
    error = ensure_peer(peer, VENVS)
    if error:
        return {name: _failed(name, error) for name in names}
    binary = peer.binary(VENVS)
    project = tools.fresh_copy(WORK / step, RUNS / step)
    if step == "dbt":
        return {name: tools.run_dbt(name, binary, project, threads, n) for name in names}
    return {
        name: tools.run_sqlmesh(name, binary, project, n, name == "sqlmesh_first") for name in names
    }


def check_rows(results: dict[str, Result], dag: projects.Dag) -> dict[str, object]:
    """Compare row counts with the floor: every model for headgate, a sample for the peers."""
    if "floor" not in results or not results["floor"].ok:
        return {"skipped": "the floor did not run"}
    names = [m.name for m in dag.models]
    floor = tools.table_counts(RUNS / "floor" / "warehouse.duckdb", names)
    step = max(1, len(names) // CHECK_SAMPLE)
    sample = names[::step]
    checks: dict[str, object] = {}
    sources: dict[str, Callable[[], Mapping[str, object]]] = {
        "headgate_full": lambda: results["headgate_full"].rows,
        "dbt_full": lambda: tools.table_counts(RUNS / "dbt" / "warehouse.duckdb", sample),
        "sqlmesh_first": lambda: tools.table_counts(RUNS / "sqlmesh" / "warehouse.duckdb", sample),
    }
    for name, counts_of in sources.items():
        if name in results and results[name].ok:
            checks[name] = _compare(results[name], floor, counts_of())
    return checks


def _compare(
    result: Result, floor: Mapping[str, object], counts: Mapping[str, object]
) -> dict[str, object]:
    compared = {name: (floor.get(name), count) for name, count in counts.items()}
    wrong = {name: pair for name, pair in compared.items() if pair[0] != pair[1]}
    summary = f"rows of {len(compared)} models match the floor"
    if wrong or not compared:
        summary = f"row counts differ from the floor for {len(wrong)} of {len(compared)} models"
    result.detail["check"] = summary
    return {
        "compared": len(compared),
        "mismatches": {k: list(v) for k, v in list(wrong.items())[:20]},
    }


def environment(steps: list[str]) -> dict[str, object]:
    env: dict[str, object] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "headgate": _version("headgate"),
        "duckdb": _version("duckdb"),
        "sqlglot": _version("sqlglot"),
    }
    for step in steps:
        if step in PEERS and PEERS[step].binary(VENVS).exists():
            env[step] = peer_versions(PEERS[step], VENVS)
    return env


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_json(path: Path, args: argparse.Namespace, payload: Mapping[str, object]) -> None:
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    document = {"config": config}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**document, **payload}, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    steps, console = selected_steps(args), Console(width=max(150, Console().width))
    if args.engine == "postgres":
        return main_postgres(args, started, [s for s in steps if s in ("floor", "headgate", "dbt")])
    if args.engine == "spark":
        return main_spark(args, started, [s for s in steps if s in ("floor", "headgate", "dbt")])
    _announce(console, f"generating {args.models} models over {args.rows:,} seed rows")
    dag = generate(args, steps, os.cpu_count() or 1)
    set_limits(args.timeout, args.quiet_wait)
    results = run_steps(steps, dag, args, console)
    checks = check_rows(results, dag)
    sizes = {name: args.plan_models if name.startswith("plan") else args.models for name in results}
    print_report(results, sizes, args.plan_models, console)
    payload: dict[str, object] = {
        "started": started,
        "steps": steps,
        "environment": environment(steps),
        "measurements": {
            name: r.to_json() | {"models": sizes[name]} for name, r in results.items()
        },
        "targets": [t.to_json() for t in targets(results, args.plan_models)],
        "row_checks": checks,
        "pair_ratios": {name: pair_ratios(name) for name in ("headgate_full",) if name in results},
    }
    for name, ratios in payload["pair_ratios"].items():  # type: ignore[union-attr]
        console.print(f"{name} / floor, round by round: {ratios}")
    write_json(args.out, args, payload)
    console.print(f"results written to {args.out}")
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


def main_postgres(args: argparse.Namespace, started: str, steps: list[str]) -> int:
    """The same project on PostgreSQL: the floor, headgate and dbt-postgres."""
    import _pipeline_postgres as pg

    url = args.postgres_url or os.environ.get("HEADGATE_TEST_POSTGRES", pg.DEFAULT_URL)
    console = Console(width=max(150, Console().width))
    _announce(console, f"generating {args.models} models over {args.rows:,} seed rows (postgres)")
    dag = projects.build_dag(args.models, args.rows, args.seed)
    pg.generate(dag, WORK, steps, url)
    set_limits(args.timeout, args.quiet_wait)
    try:
        results = pg.run_steps(steps, dag, WORK, VENVS, url, args.repeat)
        checks = pg.check_rows(results, dag, url)
        sizes = dict.fromkeys(results, args.models)
        print_report(results, sizes, args.plan_models, console, engine="PostgreSQL")
        payload: dict[str, object] = {
            "started": started,
            "steps": steps,
            "environment": environment([]) | pg.environment(url, VENVS),
            "measurements": {
                name: r.to_json() | {"models": sizes[name]} for name, r in results.items()
            },
            "targets": [t.to_json() for t in targets(results, args.plan_models)],
            "row_checks": checks,
        }
        args.postgres_url = None  # may carry a password: never written
        write_json(args.out, args, payload)
    finally:
        pg.cleanup(url, WORK, args.keep)
    console.print(f"results written to {args.out}")
    return 0


def main_spark(args: argparse.Namespace, started: str, steps: list[str]) -> int:
    """The same project on a local Spark: the floor, headgate and dbt-spark, then the publish window."""
    import _pipeline_spark as spark

    console = Console(width=max(150, Console().width))
    _announce(console, f"generating {args.models} models over {args.rows:,} seed rows (spark)")
    dag = projects.build_dag(args.models, args.rows, args.seed)
    spark.generate(dag, WORK, steps)
    set_limits(args.timeout, args.quiet_wait)
    try:
        results = spark.run_steps(steps, dag, WORK, args.repeat, VENVS)
        sizes = dict.fromkeys(results, args.models)
        print_report(results, sizes, args.plan_models, console, engine="Spark")
        _announce(console, "publish window: views replaced one after another")
        windows = spark.publish_windows(WORK)
        payload: dict[str, object] = {
            "started": started,
            "steps": steps,
            "environment": environment([]) | spark.environment(steps, VENVS),
            "measurements": {
                name: r.to_json() | {"models": sizes[name]} for name, r in results.items()
            },
            "publish_window_seconds": windows,
            "row_checks": spark.check_rows(results, dag),
        }
        write_json(args.out, args, payload)
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    console.print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
