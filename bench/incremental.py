"""A daily incremental run costs the new day, not the table: headgate vs the floor, two sizes.

One project: `raw.events` (N rows a day), `staging.events` (incremental by day),
`marts.daily` (a summary per day, rebuilt when new data arrives). It is built up to
day K, then one more day is run and timed; the same at ten times K. The floor does the
same work by hand in one DuckDB connection, appending in place: INSERT the new day's
rows, then CREATE OR REPLACE the summary. headgate does more (it never writes over what
readers see: a segment, a version view, a new summary table, an atomic publish), and the
ratio says what that costs. A reader's query through the version view is timed against
the same query on the floor's single table.

    .venv/bin/python bench/incremental.py                      # 200,000 rows a day, 10 and 100 days
    .venv/bin/python bench/incremental.py --rows-per-day 2000 --days 5   # smoke check
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from headgate import Project  # noqa: E402

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work-incremental"
START = datetime(2024, 1, 1)

RAW = """
select id, TIMESTAMP '2024-01-01' + (id * INTERVAL {step} MICROSECOND) as ts,
       id % 1000 as customer_id, (id * 7919) % 10000 / 100.0 as amount
from range({total}) t(id)
"""
INCREMENTAL = """
/* headgate:
materialized: incremental
time_column: ts
start: 2024-01-01
interval: day
*/
select id, ts, customer_id, amount from raw.events
"""
DAILY = "select date_trunc('day', ts) as day, count(*) as n, sum(amount) as revenue from staging.events group by 1"
READ = "select count(*), sum(amount), count(distinct customer_id) from {table}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows-per-day", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=10, help="days built before the timed one")
    parser.add_argument("--scale", type=int, default=10, help="the larger size: days x scale")
    parser.add_argument("--repeat", type=int, default=3, help="timed days per size; the fastest")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "incremental.json")
    return parser.parse_args(argv)


def write_project(root: Path, rows_per_day: int, days: int) -> None:
    shutil.rmtree(root, ignore_errors=True)
    (root / "models/raw").mkdir(parents=True)
    (root / "models/staging").mkdir()
    (root / "models/marts").mkdir()
    (root / "headgate.yml").write_text("name: incremental_bench\n")
    step = 86_400_000_000 // rows_per_day
    total = rows_per_day * (days + 20)
    (root / "models/raw/events.sql").write_text(RAW.format(step=step, total=total))
    (root / "models/staging/events.sql").write_text(INCREMENTAL)
    (root / "models/marts/daily.sql").write_text(DAILY)


def headgate_day(root: Path, day: int) -> tuple[float, float]:
    """(seconds for the whole run, seconds of the incremental model's own task)."""
    with Project.load(root) as project:
        started = time.perf_counter()
        result = project.run(end=START + timedelta(days=day))
        seconds = time.perf_counter() - started
    assert result.status in ("success", "nothing_to_do"), result.status
    task = next(t for t in result.tasks if t.name == "staging.events")
    return seconds, task.seconds


def read_seconds(root: Path) -> float:
    with Project.load(root) as project:
        started = time.perf_counter()
        project.query(READ.format(table="staging.events"))
        return time.perf_counter() - started


def floor(rows_per_day: int, days: int, repeat: int) -> tuple[float, float]:
    """The same days by hand, appending in place; (seconds for one day, one read)."""
    path = WORK / "floor.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    step = 86_400_000_000 // rows_per_day
    con.execute(
        f"create table raw_events as {RAW.format(step=step, total=rows_per_day * (days + 20))}"
    )
    con.execute("create table events as select * from raw_events limit 0")

    def one_day(day: int) -> float:
        low, high = START + timedelta(days=day - 1), START + timedelta(days=day)
        started = time.perf_counter()
        con.execute(
            f"insert into events select * from raw_events where ts >= TIMESTAMP '{low}' "
            f"and ts < TIMESTAMP '{high}'"
        )
        con.execute(f"create or replace table daily as {DAILY.replace('staging.events', 'events')}")
        return time.perf_counter() - started

    for day in range(1, days + 1):
        one_day(day)
    best = min(one_day(days + 1 + i) for i in range(repeat))
    started = time.perf_counter()
    con.execute(READ.format(table="events")).fetchall()
    read = time.perf_counter() - started
    con.close()
    return best, read


def measure(rows_per_day: int, days: int, repeat: int) -> dict[str, float]:
    root = WORK / f"project_{days}"
    write_project(root, rows_per_day, days)
    headgate_day(root, days)  # build up to day `days` (not timed)
    best, task = min(headgate_day(root, days + 1 + i) for i in range(repeat))
    read = min(read_seconds(root) for _ in range(3))
    floor_day, floor_read = floor(rows_per_day, days + repeat, 1)
    return {
        "days": days,
        "rows": rows_per_day * (days + repeat),
        "headgate_day_s": best,
        "headgate_incremental_task_s": task,
        "floor_day_s": floor_day,
        "headgate_read_s": read,
        "floor_read_s": floor_read,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    console = Console()
    sizes = [args.days, args.days * args.scale]
    results = []
    for days in sizes:
        console.print(
            f"[dim]{time.strftime('%H:%M:%S')}[/dim] {days} days of {args.rows_per_day:,} rows"
        )
        results.append(measure(args.rows_per_day, days, args.repeat))
    table = Table(title="one more day of an incremental model: headgate vs appending in place")
    columns = ("table rows", "headgate day s", "of it the new day s", "floor day s", "ratio")
    for column in (*columns, "read s", "floor read s", "read ratio"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            f"{r['rows']:,}",
            f"{r['headgate_day_s']:.3f}",
            f"{r['headgate_incremental_task_s']:.3f}",
            f"{r['floor_day_s']:.3f}",
            f"{r['headgate_day_s'] / r['floor_day_s']:.2f}x",
            f"{r['headgate_read_s']:.3f}",
            f"{r['floor_read_s']:.3f}",
            f"{r['headgate_read_s'] / r['floor_read_s']:.2f}x",
        )
    console.print(table)
    growth = results[1]["headgate_incremental_task_s"] / results[0]["headgate_incremental_task_s"]
    ratio = results[1]["headgate_day_s"] / results[1]["floor_day_s"]
    console.print(
        f"the new day's own work at {args.scale}x the table: {growth:.2f}x the time "
        f"(target <= 1.5x: {'met' if growth <= 1.5 else 'MISSED'}); the whole run at the larger "
        f"size, summary included: {ratio:.2f}x the floor (target <= 1.3x: "
        f"{'met' if ratio <= 1.3 else 'MISSED'})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"results": results, "new_day_growth": growth, "run_vs_floor_at_larger": ratio}
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
