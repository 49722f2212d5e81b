"""Whole projects on Spark: the demo against DuckDB's build, environments, deploys, rollbacks,
incremental models and checks through the Project facade, and a remote Spark Connect server.

The demo runs at its smallest size (1,000 orders): each model costs Spark a few jobs
whatever its size, and the comparison is about values, not volume.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from headgate import Project
from headgate.demo import write_demo_project
from headgate.project.config import SparkEngineConfig
from tests.engines.conftest import spark_yml
from tests.engines.test_demo_on_both_engines import build, checks_of
from tests.support import write_project

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

ORDERS = 1000


def test_the_demo_publishes_identical_data_and_findings_on_duckdb_and_spark(
    spark_config: SparkEngineConfig, tmp_path: Path
) -> None:
    write_demo_project(tmp_path / "duckdb", orders=ORDERS)
    write_demo_project(tmp_path / "spark", orders=ORDERS, spark_master="local[2]")
    (tmp_path / "spark/headgate.yml").write_text(spark_yml(spark_config))
    on_duckdb, duckdb_data = build(tmp_path / "duckdb")
    on_spark, spark_data = build(tmp_path / "spark")
    assert on_duckdb.status == on_spark.status == "success", [
        (t.name, t.error) for t in on_spark.tasks if t.error
    ]
    assert sorted(spark_data) == sorted(duckdb_data)
    for name, (rows, columns, digest) in duckdb_data.items():
        assert spark_data[name][:2] == (rows, columns), name
        assert spark_data[name][2] == digest, f"{name}: same rows, other values"
    findings = checks_of(on_duckdb)
    assert checks_of(on_spark) == findings
    assert findings["staging.order_items.quantity.range"][1]  # the planted bad quantities


EVENTS = """
    /* headgate:
    materialized: incremental
    time_column: day
    start: '2024-01-01'
    interval: day
    columns:
      day: {checks: [not_null]}
    */
    select cast(ordered_at as date) as day, count(*) as orders, sum(amount) as amount
    from shop.orders group by 1
"""


BUSY_DAYS = """
    def model(ctx):
        # a Spark DataFrame in and out: the rows never leave Spark
        daily = ctx.ref("marts.daily")
        assert type(daily).__module__.startswith("pyspark.sql"), type(daily)
        return daily.filter(daily.orders > 4).select("day", "orders")
"""


def orders_csv(days: int) -> str:
    lines = [f"{n},2024-01-0{1 + n % days} 10:00:00,{n * 1.5}" for n in range(1, 10)]
    return "id,ordered_at,amount\n" + "\n".join(lines) + "\n"


def test_environments_deploys_rollbacks_and_incremental_models_on_spark(
    spark_config: SparkEngineConfig, tmp_path: Path
) -> None:
    root = write_project(
        tmp_path / "shop",
        {
            "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders_*.csv}\n",
            "data/orders_1.csv": orders_csv(2),
            "models/marts/daily.sql": EVENTS,
            "models/marts/total.sql": "select sum(orders) as orders from marts.daily",
            "models/marts/busy_days.py": BUSY_DAYS,
        },
        config=spark_yml(spark_config),
    )
    with Project.load(root) as project:
        first = project.run(end=datetime(2024, 1, 3))
        assert first.status == "success", [(t.name, t.error) for t in first.tasks if t.error]
        assert project.query("select orders from marts.total").to_pylist() == [{"orders": 9}]
        busy = project.query("select day, orders from marts.busy_days").to_pylist()
        assert [(str(r["day"]), r["orders"]) for r in busy] == [("2024-01-02", 5)]

        project.env_create("dev")  # pointers copied: nothing built
    (root / "models/marts/total.sql").write_text(
        "select sum(orders) as orders, sum(amount) as amount from marts.daily"
    )
    with Project.load(root) as project:
        plan = project.plan(environment="dev")
        assert "marts.total" in {n.name for n in plan.nodes.values() if n.is_work}
        dev = project.run(environment="dev", end=datetime(2024, 1, 3))
        assert dev.status == "success", [(t.name, t.error) for t in dev.tasks if t.error]
        built = {t.name for t in dev.tasks if t.status == "built"}
        assert built == {"marts.total"}  # the rest is prod's, reused
        assert project.query("select * from marts.total").column_names == ["orders"]
        in_dev = project.query("select * from marts.total", "dev").to_pylist()
        assert in_dev == [{"orders": 9, "amount": 67.5}]

        project.deploy("dev", "prod")
        assert project.query("select * from marts.total").to_pylist() == in_dev
        project.rollback("prod")  # back to what the first run published
        assert project.query("select * from marts.total").to_pylist() == [{"orders": 9}]

    with Project.load(root) as project:  # a day later: only the new day is processed
        grown = project.run(end=datetime(2024, 1, 4))
        assert grown.status == "success", [(t.name, t.error) for t in grown.tasks if t.error]
        daily = next(t for t in grown.tasks if t.name == "marts.daily")
        assert [r["start"][:10] for r in daily.detail["ranges"]] == ["2024-01-03"]
        rows = project.query("select day, orders from marts.daily order by day").to_pylist()
        assert [(str(r["day"]), r["orders"]) for r in rows] == [
            ("2024-01-01", 4),
            ("2024-01-02", 5),
        ]
        checks = {c.name: c.status for t in grown.tasks for c in t.checks}
        assert checks["marts.daily.day.not_null"] == "pass"


# --- Spark Connect: a server of its own, reached by URL -------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def connect_url(spark_config: SparkEngineConfig, spark_connect_port: int, tmp_path: Path) -> str:
    """Spark Connect, served by the tests' own Spark on a loopback port (as a cluster's
    Connect server serves it); the session starts here if no test started it yet."""
    from headgate.engines import open_engine

    open_engine(spark_config, tmp_path).close()  # the process's session runs from here on
    return f"sc://127.0.0.1:{spark_connect_port}"


def headgate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headgate.cli.main", "-p", str(root), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_project_builds_on_a_remote_spark_connect_server(
    connect_url: str, tmp_path: Path
) -> None:
    config = (
        f"name: remote\nengine:\n  type: spark\n  remote: {connect_url}\n"
        f"  schema_prefix: remote{os.getpid()}_\n"
    )
    root = write_project(
        tmp_path / "remote",
        {
            "sources/shop.yml": "type: files\ntables:\n  orders:\n    path: data/orders.csv\n"
            "    columns: {id: BIGINT, amount: DOUBLE}\n    max_reject_fraction: 50%\n",
            "data/orders.csv": "id,amount\n1,10.5\n2,oops\n3,7\n",
            "models/marts/big.sql": "select id, amount from shop.orders where amount > 8",
        },
        config=config,
    )
    built = headgate(root, "run", "--json")
    assert built.returncode == 0, built.stdout + built.stderr
    assert json.loads(built.stdout)["status"] == "success"
    # the files were read beside headgate and sent as Arrow: the cluster cannot see them
    both = "select id, amount from marts.big union all select line, null from shop.orders__rejects"
    queried = headgate(root, "query", both, "--json")
    assert json.loads(queried.stdout)["rows"] == [
        {"id": 1, "amount": 10.5},  # the row the model keeps
        {"id": 3, "amount": None},  # the line rejected
    ]


def test_no_pyspark_no_java_and_no_server_each_say_so_in_one_message(tmp_path: Path) -> None:
    local = write_project(
        tmp_path / "local",
        {"models/one.sql": "select 1 as x"},
        config="name: local\nengine:\n  type: spark\n",
    )
    remote = write_project(
        tmp_path / "remote",
        {"models/one.sql": "select 1 as x"},
        config=f"name: remote\nengine:\n  type: spark\n  remote: sc://127.0.0.1:{free_port()}\n",
    )
    command = [sys.executable, "-m", "headgate.cli.main", "-p"]
    without_pyspark = (
        "import sys; sys.modules['pyspark'] = None; from headgate.cli.main import main; "
        f"sys.argv = ['headgate', '-p', {str(local)!r}, 'run']; main()"
    )
    no_java = {**os.environ, "PATH": str(Path(sys.executable).parent), "JAVA_HOME": ""}
    cases = {  # the three at once: each waits on its own
        "pip install 'headgate[spark]'": ([sys.executable, "-c", without_pyspark], None),
        "no Java found": ([*command, str(local), "run"], no_java),
        "cannot reach Spark Connect at 127.0.0.1": ([*command, str(remote), "run"], None),
    }
    started = {
        said: subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for said, (args, env) in cases.items()
    }
    for said, process in started.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 1, (said, stdout, stderr)
        assert said in stdout + stderr
        assert "Traceback" not in stderr


def test_a_publish_stopped_inside_its_window_is_finished_by_the_next_process(
    spark_config: SparkEngineConfig, tmp_path: Path
) -> None:
    """Spark replaces views one by one; a process killed between two of them leaves the
    intent it wrote first, and the next one to read the ledger points every view again."""
    from headgate.engines import open_engine
    from headgate.engines.base import ViewSpec, quote

    engine = open_engine(spark_config, tmp_path)
    try:
        physical, env = spark_config.schema_prefix + "physical", spark_config.schema_prefix + "m"
        engine.ensure_schema(physical)
        session = engine.session()
        for version in (1, 2):
            session.create_table_as(f"{physical}.t{version}", f"SELECT {version} AS v")
        old = [ViewSpec(f"{env}.a", f"{physical}.t1"), ViewSpec(f"{env}.b", f"{physical}.t1")]
        engine.publish_views(old, [], publish_id=1)
        new = [ViewSpec(f"{env}.a", f"{physical}.t2"), ViewSpec(f"{env}.b", f"{physical}.t2")]
        engine._write_intent(2, new, [])  # type: ignore[attr-defined]
        session.execute(
            f"ALTER VIEW {quote(env + '.a')} AS SELECT * FROM {quote(physical + '.t2')}"
        )
        # ... and the process died here: a reads the new table, b the old one
        assert engine.published([2]) == {2}
        for view in ("a", "b"):
            assert session.execute(f"SELECT v FROM {quote(env + '.' + view)}") == [(2,)]
    finally:
        engine.close()


def test_delta_and_iceberg_are_refused_in_one_message_when_the_session_lacks_them(
    spark_config: SparkEngineConfig, tmp_path: Path
) -> None:
    from headgate.engines import open_engine
    from headgate.errors import HeadgateError

    for table_format in ("delta", "iceberg"):
        config = spark_config.model_copy(update={"table_format": table_format})
        with pytest.raises(HeadgateError) as refused:
            open_engine(config, tmp_path)
        assert f"table_format: {table_format} needs" in refused.value.message
        assert refused.value.hint and "table_format: parquet" in refused.value.hint
