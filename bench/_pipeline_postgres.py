"""The pipeline benchmark on PostgreSQL: headgate vs the floor vs dbt-postgres, side by side.

The same generated DAG as on DuckDB (``_projects.py``), built in one PostgreSQL
database, each tool in schemas of its own (a prefix per tool, dropped before each
measurement):

- the floor: the same CREATE TABLE ... AS statements, rendered in PostgreSQL's dialect
  by sqlglot, run in order on one psycopg connection: what the SQL itself costs;
- headgate: the project exactly as on DuckDB (models in DuckDB's dialect), its engine
  block pointed at PostgreSQL; headgate renders each model for PostgreSQL, builds in
  parallel, counts each table's rows and publishes the views in one transaction;
- dbt-postgres (``dbt-core<1.12``), in its own venv under bench/.venvs: the SELECTs
  rendered in PostgreSQL's dialect with ``ref()``.

    .venv/bin/python bench/pipeline.py --engine postgres --models 200 --rows 200000
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import _projects as projects
import _tools as tools
import sqlglot
from _measure import Peer, Result, ensure_peer, peer_versions

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PREFIXES = {"floor": "bench_floor_", "headgate": "bench_hg_", "dbt": "bench_dbt_"}
DBT_POSTGRES = Peer(
    "dbt_postgres", ["dbt-core<1.12", "dbt-postgres"], "dbt", ["dbt-core", "dbt-postgres"]
)
PLACEHOLDER = re.compile(r"\bbench_ref__(\w+)__(\w+)\b")

FLOOR_RUNNER = '''"""Run the floor on PostgreSQL: every CREATE TABLE ... AS on one connection, in order."""

import json
import os
import pathlib

import psycopg

here = pathlib.Path(__file__).parent
statements = json.loads((here / "statements.json").read_text())
with psycopg.connect(os.environ["BENCH_POSTGRES_URL"], autocommit=True) as con:
    for statement in statements:
        con.execute(statement)
'''


def postgres_select(model: projects.Model, rows: int, ref: projects.Ref) -> str:
    """The model's SELECT in PostgreSQL's dialect, upstreams written by ``ref``."""
    sql = projects.render_select(model, lambda m: f"bench_ref__{m.schema}__{m.table}", rows)
    rendered = sqlglot.transpile(sql, read="duckdb", write="postgres")[0]
    by_name = {(m.schema, m.table): m for m in [model, *model.upstreams]}
    return PLACEHOLDER.sub(lambda found: ref(by_name[(found[1], found[2])]), rendered)


def write_floor(dag: projects.Dag, directory: Path) -> None:
    prefix = PREFIXES["floor"]
    schemas = [f"create schema {prefix}layer_{lay:02d}" for lay in range(dag.layers + 1)]
    tables = [
        f"create table {prefix}{m.name} as\n"
        + postgres_select(m, dag.rows, lambda u: f"{prefix}{u.name}")
        for m in dag.models
    ]
    projects._reset(directory)
    (directory / "statements.json").write_text(json.dumps(schemas + tables, indent=1))
    (directory / "build.py").write_text(FLOOR_RUNNER)


def write_headgate(dag: projects.Dag, directory: Path, url: str) -> None:
    """The DuckDB benchmark's project as it is, its warehouse in PostgreSQL."""
    projects.write_headgate(dag, directory)
    (directory / "headgate.yml").write_text(
        f"name: bench\nengine:\n  type: postgres\n  url: {url}\n"
        f"  schema_prefix: {PREFIXES['headgate']}\n"
    )


def write_dbt(dag: projects.Dag, directory: Path, threads: int, url: str) -> None:
    prefix, parts = PREFIXES["dbt"], urlparse(url)
    projects._reset(directory)
    folders = "".join(
        f"    layer_{lay:02d}:\n      +schema: {prefix}layer_{lay:02d}\n"
        for lay in range(dag.layers + 1)
    )
    (directory / "dbt_project.yml").write_text(projects.DBT_PROJECT + folders)
    profile = {
        "type": "postgres",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "dbname": parts.path.lstrip("/") or "postgres",
        "schema": f"{prefix}main",
        "threads": threads,
    }
    lines = "".join(f"      {key}: {json.dumps(value)}\n" for key, value in profile.items())
    (directory / "profiles.yml").write_text(f"bench:\n  target: dev\n  outputs:\n    dev:\n{lines}")
    (directory / "macros").mkdir()
    (directory / "macros" / "generate_schema_name.sql").write_text(projects.DBT_SCHEMA_MACRO)
    for model in dag.models:
        path = directory / "models" / model.schema / f"{model.table}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(postgres_select(model, dag.rows, projects._dbt_ref) + "\n")


def drop_schemas(url: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        names = con.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (prefix,)
        ).fetchall()
        for (name,) in names:
            con.execute(f'DROP SCHEMA "{name}" CASCADE')


def table_counts(url: str, prefix: str, names: list[str]) -> dict[str, int | str]:
    import psycopg

    counts: dict[str, int | str] = {}
    with psycopg.connect(url, autocommit=True) as con:
        for name in names:
            try:
                counts[name] = int(
                    con.execute(f"SELECT count(*) FROM {prefix}{name}").fetchone()[0]
                )  # type: ignore[index]
            except psycopg.Error as exc:
                counts[name] = str(exc).strip().splitlines()[0][:80]
    return counts


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as con:
        return str(con.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def run_steps(
    steps: list[str], dag: projects.Dag, work: Path, venvs: Path, url: str, repeat: int
) -> dict[str, Result]:
    """Each step in a fresh copy of its project and fresh schemas; the fastest of ``repeat``."""
    from pipeline import _keep  # the DuckDB benchmark's own rule for keeping tries

    n, threads = len(dag.models), os.cpu_count() or 1
    os.environ["BENCH_POSTGRES_URL"] = url  # the floor's runner reads it
    results: dict[str, Result] = {}
    for step in steps:
        for _attempt in range(repeat):
            drop_schemas(url, PREFIXES[step])
            runs = work / "runs"
            if step == "floor":
                project = tools.fresh_copy(work / "floor", runs / "floor")
                found = {"floor": tools.run_floor(project, sys.executable)}
            elif step == "headgate":
                project = tools.fresh_copy(work / "headgate", runs / "headgate")
                found = {
                    "headgate_full": tools.run_headgate("headgate_full", project, n, True),
                    "headgate_nochange": tools.run_headgate("headgate_nochange", project, n, False),
                }
            else:
                found = _run_dbt(dag, work, venvs, threads)
            for name, result in found.items():
                print(f"  {name}: {result.seconds or 0:.2f} s {result.error or ''}", flush=True)
                results[name] = _keep(results.get(name), result)
    return results


def _run_dbt(dag: projects.Dag, work: Path, venvs: Path, threads: int) -> dict[str, Result]:
    names = ("dbt_full", "dbt_nochange")
    error = ensure_peer(DBT_POSTGRES, venvs)
    if error:
        return {name: Result(name=name, error=error) for name in names}
    binary = DBT_POSTGRES.binary(venvs)
    project = tools.fresh_copy(work / "dbt", work / "runs" / "dbt")
    return {name: tools.run_dbt(name, binary, project, threads, len(dag.models)) for name in names}


def check_rows(results: dict[str, Result], dag: projects.Dag, url: str) -> dict[str, object]:
    """headgate's row count of every model, and a sample of dbt's, against the floor's."""
    from pipeline import CHECK_SAMPLE, _compare

    if "floor" not in results or not results["floor"].ok:
        return {"skipped": "the floor did not run"}
    names = [m.name for m in dag.models]
    floor = table_counts(url, PREFIXES["floor"], names)
    checks: dict[str, object] = {}
    if "headgate_full" in results and results["headgate_full"].ok:
        checks["headgate_full"] = _compare(
            results["headgate_full"], floor, results["headgate_full"].rows
        )
    if "dbt_full" in results and results["dbt_full"].ok:
        sample = names[:: max(1, len(names) // CHECK_SAMPLE)]
        checks["dbt_full"] = _compare(
            results["dbt_full"], floor, table_counts(url, PREFIXES["dbt"], sample)
        )
    return checks


def environment(url: str, venvs: Path) -> dict[str, object]:
    env: dict[str, object] = {"postgresql": server_version(url)}
    if DBT_POSTGRES.binary(venvs).exists():
        env["dbt"] = peer_versions(DBT_POSTGRES, venvs)
    return env


def generate(dag: projects.Dag, work: Path, steps: list[str], url: str) -> None:
    if "floor" in steps:
        write_floor(dag, work / "floor")
    if "headgate" in steps:
        write_headgate(dag, work / "headgate", url)
    if "dbt" in steps:
        write_dbt(dag, work / "dbt", os.cpu_count() or 1, url)


def cleanup(url: str, work: Path, keep: bool) -> None:
    if keep:
        return
    for prefix in PREFIXES.values():
        drop_schemas(url, prefix)
    shutil.rmtree(work, ignore_errors=True)


__all__ = [
    "DEFAULT_URL",
    "PREFIXES",
    "check_rows",
    "cleanup",
    "environment",
    "generate",
    "run_steps",
]
