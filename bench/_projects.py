"""The benchmark's layered project, written once per tool.

One deterministic DAG of models is rendered four ways: a headgate project, a
dbt-duckdb project, a SQLMesh project, and the floor (the same CREATE TABLE
... AS statements run in one DuckDB connection). Every flavour holds the same
SELECTs; only the way a model names its upstreams and declares its options
differs, so timing differences are the tools' own overhead.

Layer 0 is the seed, generated inside DuckDB. Layer 1 models scan the seed
(filter or aggregate). Deeper models read 1-3 upstreams from earlier layers
(the first always from the layer just above) and filter, roll up, window,
join or union them, or read the seed again joined with the per-key averages
of other models, as fact-table reads do. Every model after the seed has the columns
(k BIGINT, v DOUBLE, n BIGINT), k in 0..999, so any model can read any other,
and no model grows its input: joins aggregate their right side first.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Ref = Callable[["Model"], str]

SEED_SQL = """select
  i as id,
  i % 1000 as k,
  ((i * 7919) % 100003 / 100.0)::double as v,
  i % 97 as g,
  'c' || (i % 13)::varchar as cat,
  date '2024-01-01' + (i % 730)::integer as d
from range({rows}) as t(i)"""


@dataclass
class Model:
    """One model of the DAG: where it sits, what it reads, how it is rendered."""

    index: int
    layer: int
    kind: str
    upstreams: list[Model] = field(default_factory=list)
    params: dict[str, int] = field(default_factory=dict)

    @property
    def schema(self) -> str:
        return f"layer_{self.layer:02d}"

    @property
    def table(self) -> str:
        return "seed" if self.layer == 0 else f"m{self.index:04d}"

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class Dag:
    models: list[Model]
    rows: int

    @property
    def layers(self) -> int:
        return max(m.layer for m in self.models)


def layer_count(n_models: int) -> int:
    """Layers below the seed: about sqrt(N)/3, at least 3, at most 20."""
    return max(3, min(20, round(math.sqrt(n_models) / 3)))


def build_dag(n_models: int, rows: int, seed: int = 7) -> Dag:
    """N models in all (the seed included), spread evenly over the layers."""
    if n_models < 4:
        raise ValueError("the project needs at least 4 models")
    rng = random.Random(seed)
    layers = layer_count(n_models)
    root = Model(index=0, layer=0, kind="seed")
    models = [root]
    by_layer: dict[int, list[Model]] = {0: [root]}
    for index in range(1, n_models):
        layer = 1 + (index - 1) * layers // (n_models - 1)
        model = _new_model(rng, index, layer, by_layer, rows)
        by_layer.setdefault(layer, []).append(model)
        models.append(model)
    return Dag(models=models, rows=rows)


def _new_model(
    rng: random.Random, index: int, layer: int, by_layer: dict[int, list[Model]], rows: int
) -> Model:
    seed = by_layer[0][0]
    params = {"width": max(1, rows // 8), "m": rng.randrange(2, 9), "r": rng.randrange(2)}
    params["start"] = rng.randrange(max(1, rows - params["width"]))
    if layer == 1:
        params.update(g=rng.randrange(97), cat=rng.randrange(13), days=rng.randrange(700))
        kind = rng.choice(["filter", "filter", "aggregate", "daily"])
        return Model(index, layer, kind, [seed], params)
    params["c"] = rng.randrange(100)
    upstreams = _pick_upstreams(rng, layer, by_layer)
    if seed in upstreams:
        kind = rng.choice(["enrich_rows", "enrich_keys"])
    else:
        kind = rng.choice(
            {1: ["filter", "rollup", "window"], 2: ["join"], 3: ["union"]}[len(upstreams)]
        )
    return Model(index, layer, kind, upstreams, params)


def _pick_upstreams(
    rng: random.Random, layer: int, by_layer: dict[int, list[Model]]
) -> list[Model]:
    """1-3 upstreams: one from the layer above, often the seed, others from any earlier layer."""
    fan_in = rng.choices([1, 2, 3], weights=[4, 4, 2])[0]
    first = rng.choice(by_layer[layer - 1])
    upstreams = [first]
    if fan_in > 1 and rng.random() < 0.7:
        upstreams.append(by_layer[0][0])
    earlier = [m for lay in range(1, layer) for m in by_layer[lay] if m is not first]
    return upstreams + rng.sample(earlier, min(fan_in - len(upstreams), len(earlier)))


def render_select(model: Model, ref: Ref, rows: int) -> str:
    """The model's SELECT, with each upstream written as `ref(upstream)`."""
    if model.layer == 0:
        return SEED_SQL.format(rows=rows)
    if model.layer == 1:
        return _render_first_layer(model, ref(model.upstreams[0]))
    return _render_deeper(model, [ref(u) for u in model.upstreams])


def _render_first_layer(model: Model, seed: str) -> str:
    p = model.params
    if model.kind == "filter":
        return (
            f"select k, v, 1::bigint as n\nfrom {seed}\n"
            f"where id >= {p['start']} and id < {p['start'] + p['width']}"
            f" and cat <> 'c{p['cat']}'"
        )
    if model.kind == "aggregate":
        return f"select k, sum(v) as v, count(*) as n\nfrom {seed}\nwhere g = {p['g']}\ngroup by k"
    return (
        f"select k, avg(v) as v, count(distinct d) as n\nfrom {seed}\n"
        f"where d >= date '2024-01-01' + {p['days']} and d < date '2024-01-01' + {p['days'] + 30}\n"
        f"group by k"
    )


def _render_deeper(model: Model, ups: list[str]) -> str:
    p = model.params
    if model.kind == "filter":
        return (
            f"select k, v * 1.01 + {p['c']} as v, n\nfrom {ups[0]}\nwhere k % {p['m']} <> {p['r']}"
        )
    if model.kind == "rollup":
        return f"select k % 100 * 10 as k, avg(v) as v, count(*) as n\nfrom {ups[0]}\ngroup by 1"
    if model.kind == "window":
        return (
            f"select k, sum(v) over (partition by k % {p['m']} order by k, v"
            f" rows between 2 preceding and current row) as v, n\nfrom {ups[0]}"
        )
    if model.kind == "join":
        return (
            f"select a.k, a.v + coalesce(b.v, 0) as v, a.n + coalesce(b.n, 0) as n\n"
            f"from {ups[0]} as a\n"
            f"left join (select k, avg(v) as v, max(n) as n from {ups[1]} group by k) as b\n"
            f"  on a.k = b.k"
        )
    if model.kind.startswith("enrich"):
        return _render_enrich(model, ups)
    union = "\n  union all\n".join(f"  select k, v, n from {u}" for u in ups)
    return f"select k, avg(v) as v, count(*) as n\nfrom (\n{union}\n) as u\ngroup by k"


def _render_enrich(model: Model, ups: list[str]) -> str:
    """A fact-table read: the seed joined with the per-key averages of other models."""
    p = model.params
    seed, others = ups[1], [ups[0], *ups[2:]]
    inner = "\n    union all\n".join(f"    select k, v from {u}" for u in others)
    lookup = f"(\n  select k, avg(v) as v\n  from (\n{inner}\n  ) as o\n  group by k\n) as u"
    if model.kind == "enrich_rows":
        return (
            f"select s.k, s.v * coalesce(u.v, 1) / 1000 as v, s.id % 7 as n\n"
            f"from {seed} as s\nleft join {lookup}\n  on s.k = u.k\n"
            f"where s.id >= {p['start']} and s.id < {p['start'] + p['width']}"
        )
    return (
        f"select s.k, sum(s.v * u.v) / 1000 as v, count(distinct s.d) as n\n"
        f"from {seed} as s\njoin {lookup}\n  on s.k = u.k\n"
        f"where s.cat <> 'c{p['m']}'\ngroup by s.k"
    )


def _qualified(model: Model) -> str:
    return model.name


def _dbt_ref(model: Model) -> str:
    return "{{ ref('" + model.table + "') }}"


def _reset(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def _write_models(dag: Dag, directory: Path, header: Callable[[Model], str], ref: Ref) -> None:
    for model in dag.models:
        path = directory / "models" / model.schema / f"{model.table}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header(model) + render_select(model, ref, dag.rows) + "\n")


def write_headgate(dag: Dag, directory: Path) -> None:
    """headgate: plain SQL, names from paths, options in a leading comment block."""
    _reset(directory)
    (directory / "headgate.yml").write_text(
        "name: bench\nengine:\n  type: duckdb\n  path: .headgate/warehouse.duckdb\n"
    )
    _write_models(dag, directory, lambda _m: "/* headgate:\nmaterialized: table\n*/\n", _qualified)


DBT_PROJECT = """name: bench
version: "1.0.0"
config-version: 2
profile: bench
model-paths: [models]
macro-paths: [macros]
target-path: target
models:
  bench:
    +materialized: table
"""

DBT_SCHEMA_MACRO = """{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
"""


def write_dbt(dag: Dag, directory: Path, threads: int) -> None:
    """dbt-duckdb: the same SELECTs with ref(); each layer folder is its own schema."""
    _reset(directory)
    folders = "".join(
        f"    layer_{lay:02d}:\n      +schema: layer_{lay:02d}\n" for lay in range(dag.layers + 1)
    )
    (directory / "dbt_project.yml").write_text(DBT_PROJECT + folders)
    (directory / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: warehouse.duckdb\n      schema: main\n      threads: {threads}\n"
    )
    (directory / "macros").mkdir()
    (directory / "macros" / "generate_schema_name.sql").write_text(DBT_SCHEMA_MACRO)
    _write_models(dag, directory, lambda _m: "", _dbt_ref)


def write_sqlmesh(dag: Dag, directory: Path, threads: int) -> None:
    """SQLMesh: a MODEL header per file (kind FULL), table references as written."""
    _reset(directory)
    (directory / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\n"
        f"      database: warehouse.duckdb\n      concurrent_tasks: {threads}\n"
        "default_gateway: local\nmodel_defaults:\n  dialect: duckdb\n"
    )
    _write_models(dag, directory, lambda m: f"MODEL (name {m.name}, kind FULL);\n\n", _qualified)


FLOOR_RUNNER = '''"""Run the floor: every CREATE TABLE ... AS in one DuckDB connection, in order."""

import json
import pathlib

import duckdb

here = pathlib.Path(__file__).parent
statements = json.loads((here / "statements.json").read_text())
con = duckdb.connect(str(here / "warehouse.duckdb"))
for statement in statements:
    con.execute(statement)
con.close()
'''


def floor_statements(dag: Dag) -> list[str]:
    """Schemas first, then one CREATE TABLE ... AS per model in dependency order."""
    schemas = [f"create schema if not exists layer_{lay:02d}" for lay in range(dag.layers + 1)]
    tables = [
        f"create table {m.name} as\n{render_select(m, _qualified, dag.rows)}" for m in dag.models
    ]
    return schemas + tables


def write_floor(dag: Dag, directory: Path) -> None:
    _reset(directory)
    (directory / "statements.json").write_text(json.dumps(floor_statements(dag), indent=1))
    (directory / "build.py").write_text(FLOOR_RUNNER)
