"""The pipeline benchmark on Spark: headgate vs the floor, and how long a publish leaves views mixed.

The same generated DAG as on DuckDB (``_projects.py``), on a local Spark (``local[2]``)
with a Hive metastore:

- the floor: the same CREATE TABLE ... USING parquet AS statements, rendered in Spark's
  dialect by sqlglot, run in dependency order through one SparkSession: what the SQL
  itself costs on Spark (JVM start included, as for headgate);
- headgate: the project exactly as on DuckDB, its engine block pointed at Spark; headgate
  renders each model for Spark, builds, counts each table's rows, audits nothing (the
  project has no checks) and publishes the views;
- the publish window: ``SparkEngine.publish_views`` over 20 and 200 views that already
  exist, three times each; the time from the first view statement to the last is what a
  reader can see half-published (the README's Spark section quotes these figures).

    .venv/bin/python bench/pipeline.py --engine spark --models 200 --rows 200000
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import _projects as projects
import _tools as tools
import sqlglot
from _measure import Result

FLOOR_RUNNER = '''"""Run the floor on Spark: every CREATE TABLE ... AS in one SparkSession, in order."""

import json
import pathlib

from pyspark.sql import SparkSession

here = pathlib.Path(__file__).parent
statements = json.loads((here / "statements.json").read_text())
spark = (
    SparkSession.builder.master("local[2]")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.shuffle.partitions", "4")
    .config("spark.sql.warehouse.dir", str(here / "warehouse"))
    .config("spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={here / 'metastore_db'};create=true")
    .enableHiveSupport()
    .getOrCreate()
)
for statement in statements:
    spark.sql(statement)
spark.stop()
'''

ENGINE = "engine:\n  type: spark\n  master: local[2]\n"


def seed_for_spark(sql: str, rows: int) -> str:
    """DuckDB's ``range(n) AS t(i)`` has no Spark form in sqlglot; ``unnest(range(...))`` has
    (``explode(sequence(...))``): the same rows, read by DuckDB's dialect as any model."""
    return sql.replace(
        f"from range({rows}) as t(i)", f"from (select unnest(range(0, {rows})) as i) as t"
    )


def spark_select(model: projects.Model, rows: int) -> str:
    sql = projects.render_select(model, lambda m: f"{m.schema}.{m.table}", rows)
    return str(sqlglot.transpile(seed_for_spark(sql, rows), read="duckdb", write="spark")[0])


def write_floor(dag: projects.Dag, directory: Path) -> None:
    schemas = sorted({f"CREATE DATABASE IF NOT EXISTS {m.schema}" for m in dag.models})
    tables = [
        f"CREATE TABLE {m.schema}.{m.table} USING parquet AS {spark_select(m, dag.rows)}"
        for m in dag.models
    ]
    projects._reset(directory)
    (directory / "statements.json").write_text(json.dumps(schemas + tables, indent=1))
    (directory / "build.py").write_text(FLOOR_RUNNER)


def write_headgate(dag: projects.Dag, directory: Path) -> None:
    """The DuckDB benchmark's project as it is, its warehouse a local Spark."""
    projects.write_headgate(dag, directory)
    (directory / "headgate.yml").write_text(f"name: bench\n{ENGINE}")
    seed = dag.models[0]
    path = directory / "models" / seed.schema / f"{seed.table}.sql"
    path.write_text(seed_for_spark(path.read_text(), dag.rows))


def generate(dag: projects.Dag, work: Path, steps: list[str]) -> None:
    if "floor" in steps:
        write_floor(dag, work / "floor")
    if "headgate" in steps:
        write_headgate(dag, work / "headgate")


def run_steps(steps: list[str], dag: projects.Dag, work: Path, repeat: int) -> dict[str, Result]:
    """Each step in a fresh copy of its project (a fresh warehouse); the fastest of ``repeat``."""
    from pipeline import _keep

    n = len(dag.models)
    results: dict[str, Result] = {}
    for step in steps:
        for _attempt in range(repeat):
            runs = work / "runs"
            if step == "floor":
                project = tools.fresh_copy(work / "floor", runs / "floor")
                found = {"floor": tools.run_floor(project, sys.executable)}
            else:
                project = tools.fresh_copy(work / "headgate", runs / "headgate")
                found = {
                    "headgate_full": tools.run_headgate("headgate_full", project, n, True),
                    "headgate_nochange": tools.run_headgate("headgate_nochange", project, n, False),
                }
            for name, result in found.items():
                print(f"  {name}: {result.seconds or 0:.2f} s {result.error or ''}", flush=True)
                results[name] = _keep(results.get(name), result)
    return results


def publish_windows(work: Path, sizes: tuple[int, ...] = (20, 200), tries: int = 3) -> dict:
    """Seconds between the first and the last view replaced, per number of views."""
    from headgate.engines.base import ViewSpec
    from headgate.engines.spark import SparkEngine
    from headgate.project.config import SparkEngineConfig

    root = work / "publish"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    engine = SparkEngine.open(SparkEngineConfig(type="spark", master="local[2]"), root)
    session = engine.session()
    engine.ensure_schema("physical")
    for version in (1, 2):
        session.create_table_as(f"physical.t{version}", f"SELECT {version} AS version")
    found: dict[str, dict[str, float]] = {}
    for size in sizes:
        views = [f"env_{size}.v{i}" for i in range(size)]
        engine.publish_views([ViewSpec(v, "physical.t1") for v in views], [])  # they exist
        seconds = []
        for attempt in range(tries):
            target = f"physical.t{2 - attempt % 2}"
            started = time.perf_counter()
            engine.publish_views([ViewSpec(v, target) for v in views], [], publish_id=attempt)
            assert engine.last_publish is not None
            seconds.append(engine.last_publish.seconds)
            print(
                f"  publish of {size} views: window {engine.last_publish.seconds:.2f} s "
                f"(whole call {time.perf_counter() - started:.2f} s)",
                flush=True,
            )
        found[str(size)] = {
            "min": min(seconds),
            "median": sorted(seconds)[len(seconds) // 2],
            "max": max(seconds),
            "per_view": min(seconds) / size,
        }
    engine.close()
    return found


def check_rows(results: dict[str, Result], dag: projects.Dag) -> dict[str, object]:
    """headgate built every model and counted its rows (the floor's counts would cost a
    Spark job per table; the DuckDB benchmark compares the same SQL's counts)."""
    full = results.get("headgate_full")
    if full is None or not full.ok:
        return {"skipped": "headgate did not build"}
    counted = [name for name, rows in (full.rows or {}).items() if isinstance(rows, int)]
    return {"headgate_full": {"models": len(dag.models), "with_row_counts": len(counted)}}


def environment() -> dict[str, object]:
    import pyspark

    return {"pyspark": pyspark.__version__, "master": "local[2]"}


__all__ = ["check_rows", "environment", "generate", "publish_windows", "run_steps"]
