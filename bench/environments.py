"""headgate environments at two data sizes: env create, plan, deploy and rollback follow
the number of models, not the amount of data.

One generated layered project (bench/_projects.py) is built at `--rows` seed rows and
at ten times that. On each, as CLI subprocesses: the initial full build (context),
`env create dev --from prod`, a one-model change reviewed with `plan --env prod`,
`run --env dev` (context), `deploy --from dev --to prod` and `rollback prod`. The
targets: env create, plan and deploy each under 2 seconds, and each at most 1.2x as
slow on ten times the data. See bench/README.md for what each number means.

    .venv/bin/python bench/environments.py                        # 1,000 models, 100,000 and 1,000,000 rows
    .venv/bin/python bench/environments.py --models 30 --rows 1000   # smoke check, seconds
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _environments_report as report
import _environments_steps as steps
import _projects as projects
import _tools as tools
from _measure import Result, set_limits
from rich.console import Console

BENCH = Path(__file__).resolve().parent
# Not bench/.work: pipeline.py removes that whole folder when it finishes.
WORK = BENCH / ".work-environments"
SCALE = 10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=1000, help="models in the project")
    parser.add_argument(
        "--rows",
        type=int,
        default=100_000,
        help=f"seed rows of the smaller size; the larger has {SCALE}x as many",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generator")
    parser.add_argument(
        "--keep", action="store_true", help="keep bench/.work-environments (projects, logs)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the whole scenario this many times per size, each in a fresh copy; "
        "keep each step's fastest",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="seconds to wait at most, before each measurement, for other processes to go idle",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per command")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "environments.json")
    return parser.parse_args(argv)


def _announce(console: Console, text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")


def _keep(kept: Result | None, new: Result) -> Result:
    """The fastest of the tries, unless one failed: a failure is always shown."""
    tries = [*(kept.tries if kept else []), new.seconds]
    if kept is None or (kept.ok and (not new.ok or (new.seconds or 0) < (kept.seconds or 0))):
        kept = new
    kept.tries = tries
    return kept


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class Size:
    """Everything measured at one data size, over `--repeat` passes."""

    def __init__(self, rows: int, dag: projects.Dag, change: steps.Change) -> None:
        self.rows, self.dag, self.change = rows, dag, change
        self.results: dict[str, Result] = {}
        self.checks: dict[str, list[steps.Check]] = {}
        self.passes: list[dict[str, object]] = []

    def add(self, done: steps.Pass) -> None:
        for name, result in done.results.items():
            self.results[name] = _keep(self.results.get(name), result)
        for name, check in done.checks.items():
            self.checks.setdefault(name, []).append(check)
        self.passes.append(
            {
                "seconds": {n: _round(r.seconds) for n, r in done.results.items()},
                "values": {k: v if isinstance(v, str) else list(v) for k, v in done.values.items()},
                "physical_tables": done.counts,
                "checks": {n: c.to_json() for n, c in done.checks.items()},
            }
        )

    @property
    def passed(self) -> bool:
        """Every step of every pass ran, and every check held."""
        ran = all(name in self.results and self.results[name].ok for name in steps.STEPS)
        return ran and all(c.ok for found in self.checks.values() for c in found)

    def to_json(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "passed": self.passed,
            "models": len(self.dag.models),
            "layers": self.dag.layers,
            "change": self.change.to_json(),
            "measurements": {n: r.to_json() for n, r in self.results.items()},
            "checks": {n: all(c.ok for c in found) for n, found in self.checks.items()},
            "passes": self.passes,
        }


def scaled(dag: projects.Dag, factor: int) -> projects.Dag:
    """The same DAG over `factor` times the seed rows: every id range the generator drew
    (`width`, `start`) grows with the seed, so each model reads `factor` times the rows.

    Generating again at the larger size would draw a different DAG (the generator's
    random draws depend on the row count); the comparison must differ only in data.
    """
    bigger = copy.deepcopy(dag)
    bigger.rows = dag.rows * factor
    for model in bigger.models:
        for key in ("width", "start"):
            if key in model.params:
                model.params[key] *= factor
    return bigger


def run_size(args: argparse.Namespace, dag: projects.Dag, console: Console) -> Size:
    """Write the project once at this size; run the scenario in fresh copies of it."""
    rows, change = dag.rows, steps.choose_change(dag)
    source = WORK / f"rows_{rows}" / "project"
    projects.write_headgate(dag, source)
    size = Size(rows, dag, change)
    _announce(
        console,
        f"{args.models:,} models over {rows:,} seed rows; the change: {change.model.name} "
        f"(layer {change.model.layer}, {len(change.downstream)} models downstream)",
    )
    for attempt in range(1, args.repeat + 1):
        _announce(console, f"pass {attempt}/{args.repeat} at {rows:,} rows ...")
        project = tools.fresh_copy(source, WORK / f"rows_{rows}" / "run")
        size.add(steps.run_pass(project, dag, change, lambda text: _announce(console, text)))
    return size


def source_digest() -> str | None:
    """A short hash of headgate's source files: which code a run measured, even uncommitted."""
    spec = importlib.util.find_spec("headgate")
    if spec is None or spec.origin is None:
        return None
    root, digest = Path(spec.origin).parent, hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def git_commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(BENCH), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def environment(digest_before: str | None) -> dict[str, object]:
    versions = {d: _version(d) for d in ("headgate", "duckdb", "sqlglot")}
    digest_after = source_digest()
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
        "git_commit": git_commit(),
        "headgate_source_digest": digest_before,
        "source_changed_during_run": digest_after != digest_before,
    }


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_json(path: Path, args: argparse.Namespace, payload: dict[str, object]) -> None:
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": config, **payload}, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, digest = time.strftime("%Y-%m-%dT%H:%M:%S%z"), source_digest()
    console = Console(width=max(150, Console().width))
    set_limits(args.timeout, args.quiet_wait)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / ".gitignore").write_text("*\n")  # generated projects and warehouses, never committed
    dag = projects.build_dag(args.models, args.rows, args.seed)
    sizes = [run_size(args, d, console) for d in (dag, scaled(dag, SCALE))]
    outcomes = {s.rows: s.results for s in sizes}
    found = report.targets(outcomes, args.models)
    report.print_steps(outcomes, args.models, console)
    report.print_targets(found, console)
    report.print_checks({s.rows: s.checks for s in sizes}, console)
    small, large = sizes
    ratios = {
        step: report.ratio(small.results.get(step), large.results.get(step)) for step in steps.STEPS
    }
    env = environment(digest)
    if env["source_changed_during_run"]:
        console.print("[yellow]headgate's source changed during the run: figures mix versions[/]")
    payload: dict[str, object] = {
        "started": started,
        "environment": env,
        "sizes": [s.to_json() for s in sizes],
        "ratios_large_over_small": {k: _round(v) for k, v in ratios.items()},
        "targets": [report.target_json(t) for t in found],
        "all_passed": all(s.passed for s in sizes),
    }
    write_json(args.out, args, payload)
    console.print(f"results written to {args.out}")
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
