"""Startup: how long a short command takes to answer, headgate beside its peers.

The floor is the same query from a bare Python process with DuckDB (connect read-only,
one SELECT, fetch). On the 20-model online-shop demo: `headgate --help`, `headgate status`
and `headgate query "select count(*) from marts.daily_revenue"`, measured warm (what the
last command kept is valid) and after a change: a model file saved (the project is
parsed again), the store written (its answers read again), nothing kept at all; and a
query in a second environment (`--env dev`, whose views need the query rewritten). The
peers' equivalents run on a generated 20-model project of their own: `dbt --help`,
`dbt ls` and `dbt show --inline` (dbt-duckdb), `sqlmesh info` and `sqlmesh fetchdf`.
Every command runs once per round, after one warm-up round, for `--runs` rounds (so a
machine that gets busier or quieter weighs on all alike); the table shows the median,
the fastest, and the median's ratio to the floor's. The target: status and query within
1.5x the floor.

    .venv/bin/python bench/startup.py                  # everything; peers installed on first use
    .venv/bin/python bench/startup.py --skip-peers --runs 5
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import _projects as projects
from _measure import PEERS, ensure_peer, measure, peer_env, peer_versions, set_limits

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work-startup"
VENVS = BENCH / ".venvs"
HEADGATE = BENCH.parent / ".venv" / "bin" / "headgate"
PYTHON = BENCH.parent / ".venv" / "bin" / "python"
QUERY = "select count(*) from marts.daily_revenue"
TARGET = 1.5
FLOOR = (
    "import duckdb\n"
    "connection = duckdb.connect('.headgate/warehouse.duckdb', read_only=True)\n"
    f"print(connection.sql({QUERY!r}).fetchall())\n"
)
OUTLINE = ".headgate/cache/outline-*.pickle"
STORE_READS = ".headgate/cache/store-reads-*.pickle"
EDITED = "models/marts/daily_revenue.sql"


@dataclass
class Timing:
    """One command, measured in every round."""

    name: str
    tool: str
    command: list[str]
    cwd: Path
    before: Callable[[Path], None] | None = None  # prepares each run
    target: bool = False  # held to the 1.5x target
    warm: bool = False  # run once unmeasured first: what it keeps is valid when measured
    seconds: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    def run(self, *, keep: bool) -> None:
        if self.error:
            return
        if self.before is not None:
            self.before(self.cwd)
        if self.warm:
            measure("warming", self.command, self.cwd)
        result = measure(self.name.replace(" ", "_").replace('"', ""), self.command, self.cwd)
        if result.error:
            self.error = result.error
        elif keep:
            self.seconds.append(result.seconds or 0.0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="measured runs of each command")
    parser.add_argument("--skip-peers", action="store_true", help="measure headgate only")
    parser.add_argument("--orders", type=int, default=120_000, help="orders in the demo")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=5,
        help="seconds to wait at most, before each run, for other processes to go idle",
    )
    parser.add_argument("--keep", action="store_true", help="keep bench/.work-startup")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "startup.json")
    return parser.parse_args(argv)


def measure_in_rounds(timings: list[Timing], runs: int) -> None:
    """Every command once per round (after one warm-up round), ``runs`` rounds: a machine
    that gets busier or quieter meanwhile weighs on every command alike."""
    for round_number in range(runs + 1):
        for timing in timings:
            timing.run(keep=round_number > 0)
        print(f"  round {round_number}/{runs} done", flush=True)


def forget(*patterns: str) -> Callable[[Path], None]:
    """Remove what earlier commands kept, as a change to the project or the store does."""

    def remove(project: Path) -> None:
        for pattern in patterns:
            for path in project.glob(pattern):
                path.unlink()

    return remove


def edit_a_model(project: Path) -> None:
    """A model file saved again (its time changes): the outline must be made anew."""
    path = project / EDITED
    path.write_text(path.read_text())


def setup_demo(orders: int) -> Path:
    demo = WORK / "demo"
    done = subprocess.run(
        [str(HEADGATE), "demo", str(demo), "--orders", str(orders)],
        capture_output=True,
        text=True,
        env=peer_env(),
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"headgate demo failed:\n{done.stdout}\n{done.stderr}")
    subprocess.run(
        [str(HEADGATE), "-p", str(demo), "env", "create", "dev"],
        capture_output=True,
        env=peer_env(),
        check=True,
    )
    return demo


def headgate_timings(demo: Path) -> list[Timing]:
    hg = str(HEADGATE)
    query = [hg, "query", QUERY]
    status = [hg, "status"]
    return [
        Timing("bare Python + DuckDB query (floor)", "floor", [str(PYTHON), "-c", FLOOR], demo),
        Timing("python -c pass", "floor", [str(PYTHON), "-c", "pass"], demo),
        Timing("headgate --help", "headgate", [hg, "--help"], demo),
        Timing("headgate status", "headgate", status, demo, target=True, warm=True),
        Timing(f'headgate query "{QUERY}"', "headgate", query, demo, target=True, warm=True),
        Timing("headgate query --env dev", "headgate", [*query, "--env", "dev"], demo, warm=True),
        Timing("headgate status, after a model is saved", "headgate", status, demo, edit_a_model),
        Timing(
            "headgate status, after the store changed",
            "headgate",
            status,
            demo,
            forget(STORE_READS),
        ),
        Timing(
            "headgate query, with nothing kept",
            "headgate",
            query,
            demo,
            forget(OUTLINE, STORE_READS),
        ),
    ]


def peer_projects() -> tuple[Path, Path, str]:
    dag = projects.build_dag(20, 10_000)
    dbt, sqlmesh = WORK / "dbt", WORK / "sqlmesh"
    projects.write_dbt(dag, dbt, threads=2)
    projects.write_sqlmesh(dag, sqlmesh, threads=2)
    return dbt, sqlmesh, dag.models[-1].name


def dbt_timings(project: Path, last: str) -> list[Timing]:
    error = ensure_peer(PEERS["dbt"], VENVS)
    dbt = str(PEERS["dbt"].binary(VENVS))
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    if error is None:
        built = subprocess.run(
            [dbt, "run", *where],
            cwd=project,
            capture_output=True,
            text=True,
            env=peer_env(),
            check=False,
        )
        error = None if built.returncode == 0 else f"dbt run failed: {built.stdout[-300:]}"
    if error is not None:
        return [Timing("dbt", "dbt", [], project, error=error)]
    model = last.rsplit(".", 1)[-1]
    inline = f"select count(*) as n from {{{{ ref('{model}') }}}}"
    return [
        Timing("dbt --help", "dbt", [dbt, "--help"], project),
        Timing("dbt ls", "dbt", [dbt, "ls", *where], project),
        Timing("dbt show --inline", "dbt", [dbt, "show", "--inline", inline, *where], project),
    ]


def sqlmesh_timings(project: Path, last: str) -> list[Timing]:
    error = ensure_peer(PEERS["sqlmesh"], VENVS)
    sqlmesh = str(PEERS["sqlmesh"].binary(VENVS))
    if error is None:
        built = subprocess.run(
            [sqlmesh, "-p", str(project), "plan", "--auto-apply", "--no-prompts"],
            cwd=project,
            capture_output=True,
            text=True,
            env=peer_env(),
            check=False,
        )
        error = None if built.returncode == 0 else f"sqlmesh plan failed: {built.stdout[-300:]}"
    if error is not None:
        return [Timing("sqlmesh", "sqlmesh", [], project, error=error)]
    fetch = [sqlmesh, "-p", str(project), "fetchdf", f"select count(*) as n from {last}"]
    return [
        Timing("sqlmesh info", "sqlmesh", [sqlmesh, "-p", str(project), "info"], project),
        Timing("sqlmesh fetchdf", "sqlmesh", fetch, project),
    ]


def report(timings: list[Timing], floor: float) -> None:
    print(f"\n{'command':58} {'median s':>9} {'fastest s':>9} {'x floor':>8}")
    for t in timings:
        if t.error or t.median is None:
            print(f"{t.name:58} {'error':>9}   {t.error}")
            continue
        ratio = t.median / floor
        verdict = ("  met" if ratio <= TARGET else "  MISSED") if t.target else ""
        print(f"{t.name:58} {t.median:9.3f} {min(t.seconds):9.3f} {ratio:7.2f}x{verdict}")
    print(f"\ntarget: headgate status and query within {TARGET}x the floor")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_limits(timeout=600, quiet_wait=args.quiet_wait)
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    print("writing and building the demo…", flush=True)
    demo = setup_demo(args.orders)
    timings = headgate_timings(demo)
    versions: dict[str, dict[str, str]] = {}
    if not args.skip_peers:
        print("installing and building the peers' projects…", flush=True)
        dbt, sqlmesh, last = peer_projects()
        timings += dbt_timings(dbt, last)
        timings += sqlmesh_timings(sqlmesh, last)
        versions = {n: peer_versions(PEERS[n], VENVS) for n in ("dbt", "sqlmesh")}
    measure_in_rounds(timings, args.runs)
    floor = timings[0].median or float("nan")
    report(timings, floor)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "started": started,
                "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
                "runs": args.runs,
                "peers": versions,
                "floor_seconds": floor,
                "timings": [
                    {
                        "name": t.name,
                        "tool": t.tool,
                        "median": t.median,
                        "fastest": min(t.seconds) if t.seconds else None,
                        "ratio": t.median / floor if t.median else None,
                        "target": t.target,
                        "error": t.error,
                        "seconds": [round(s, 4) for s in t.seconds],
                    }
                    for t in timings
                ],
            },
            indent=2,
        )
        + "\n"
    )
    if not args.keep:
        shutil.rmtree(WORK)
    return 0


if __name__ == "__main__":
    sys.exit(main())
