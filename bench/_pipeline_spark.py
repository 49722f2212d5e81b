"""The pipeline benchmark on Spark: headgate vs the floor, and how long a publish leaves views mixed.

The same generated DAG as on DuckDB (``_projects.py``), on a local Spark (``local[2]``)
with a Hive metastore:

- the floor: the same CREATE TABLE ... USING parquet AS statements, rendered in Spark's
  dialect by sqlglot, run in dependency order through one SparkSession: what the SQL
  itself costs on Spark (JVM start included, as for headgate);
- headgate: the project exactly as on DuckDB, its engine block pointed at Spark; headgate
  renders each model for Spark, builds, counts each table's rows, audits nothing (the
  project has no checks) and publishes the views;
- dbt-spark (``dbt-core<1.12``, ``dbt-spark[session]``) in its own venv under
  bench/.venvs, ``method: session``: dbt's own SparkSession in the dbt process, the same
  SELECTs with ``ref()``, tables as Parquet (dbt-spark's default ``file_format``), a Derby
  metastore and a warehouse folder of its own, ``local[2]`` as headgate and the floor;
- the publish window: ``SparkEngine.publish_views`` over 20 and 200 views that already
  exist, three times each; the time from the first view statement to the last is what a
  reader can see half-published (the README's Spark section quotes these figures).

    .venv/bin/python bench/pipeline.py --engine spark --models 200 --rows 200000
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import _projects as projects
import _tools as tools
import sqlglot
from _measure import Peer, Result, ensure_peer, peer_versions

DBT_SPARK = Peer(
    "dbt_spark",
    ["dbt-core<1.12", "dbt-spark[session]"],
    "dbt",
    ["dbt-core", "dbt-spark", "pyspark"],
)

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


DBT_REF = re.compile(r"\bdbtref__(\w+)")


def dbt_select(model: projects.Model, rows: int) -> str:
    """The model's SELECT in Spark's dialect, each upstream as ``{{ ref('...') }}`` (rendered
    with a plain name first: sqlglot does not read Jinja)."""
    sql = projects.render_select(model, lambda m: f"dbtref__{m.table}", rows)
    spark_sql = str(sqlglot.transpile(seed_for_spark(sql, rows), read="duckdb", write="spark")[0])
    return DBT_REF.sub(lambda found: "{{ ref('" + found.group(1) + "') }}", spark_sql)


def dbt_profile(directory: Path, threads: int) -> str:
    """dbt-spark in session mode: its SparkSession set up as the floor's and headgate's."""
    settings = {
        "spark.master": "local[2]",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.warehouse.dir": str(directory / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={directory / 'metastore_db'};create=true"
        ),
    }
    lines = "".join(f"        {json.dumps(k)}: {json.dumps(v)}\n" for k, v in settings.items())
    return (
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: spark\n"
        "      method: session\n      host: NA\n      schema: main\n"
        f"      threads: {threads}\n      server_side_parameters:\n{lines}"
    )


def write_dbt(dag: projects.Dag, directory: Path, threads: int) -> None:
    projects._reset(directory)
    folders = "".join(
        f"    layer_{lay:02d}:\n      +schema: layer_{lay:02d}\n" for lay in range(dag.layers + 1)
    )
    (directory / "dbt_project.yml").write_text(projects.DBT_PROJECT + folders)
    (directory / "macros").mkdir()
    (directory / "macros" / "generate_schema_name.sql").write_text(projects.DBT_SCHEMA_MACRO)
    for model in dag.models:
        path = directory / "models" / model.schema / f"{model.table}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dbt_select(model, dag.rows) + "\n")


def generate(dag: projects.Dag, work: Path, steps: list[str]) -> None:
    if "floor" in steps:
        write_floor(dag, work / "floor")
    if "headgate" in steps:
        write_headgate(dag, work / "headgate")
    if "dbt" in steps:
        write_dbt(dag, work / "dbt", os.cpu_count() or 1)


def run_dbt(dag: projects.Dag, work: Path, venvs: Path) -> dict[str, Result]:
    """``dbt run`` twice in a fresh copy (dbt rebuilds every table on every run)."""
    names = ("dbt_full", "dbt_nochange")
    error = ensure_peer(DBT_SPARK, venvs)
    if error:
        return {name: Result(name=name, error=error) for name in names}
    project = tools.fresh_copy(work / "dbt", work / "runs" / "dbt")
    (project / "profiles.yml").write_text(dbt_profile(project, os.cpu_count() or 1))
    binary, threads, n = DBT_SPARK.binary(venvs), os.cpu_count() or 1, len(dag.models)
    return {name: tools.run_dbt(name, binary, project, threads, n) for name in names}


def run_steps(
    steps: list[str], dag: projects.Dag, work: Path, repeat: int, venvs: Path
) -> dict[str, Result]:
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
            elif step == "dbt":
                found = run_dbt(dag, work, venvs)
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


def environment(steps: list[str], venvs: Path) -> dict[str, object]:
    import pyspark

    found: dict[str, object] = {"pyspark": pyspark.__version__, "master": "local[2]"}
    if "dbt" in steps:
        found["dbt"] = peer_versions(DBT_SPARK, venvs)
    return found


__all__ = ["check_rows", "environment", "generate", "publish_windows", "run_steps"]
