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
from collections.abc import Iterator
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


# Spark's own way to serve Spark Connect: a session with the Connect plugin (what
# sbin/start-connect-server.sh starts), on loopback only
CONNECT_SERVER = """
import sys, time
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]")
         .config("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
         .config("spark.connect.grpc.binding.address", "127.0.0.1")
         .config("spark.connect.grpc.binding.port", sys.argv[1])
         .config("spark.ui.enabled", "false").getOrCreate())
print("ready", flush=True)
time.sleep(240)
"""


@pytest.fixture
def connect_url(spark_settings: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A Spark Connect server in a process of its own, on a free loopback port."""
    port = free_port()
    script = tmp_path / "connect_server.py"
    script.write_text(CONNECT_SERVER)
    log = open(tmp_path / "connect.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline()  # or "" when the server died
        assert ready.strip() == "ready", (tmp_path / "connect.log").read_text()[-2000:]
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


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
    config = f"name: remote\nengine:\n  type: spark\n  remote: {connect_url}\n"
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
    queried = headgate(root, "query", "select id, amount from marts.big", "--json")
    assert json.loads(queried.stdout)["rows"] == [{"id": 1, "amount": 10.5}]
    rejects = headgate(root, "query", "select line from shop.orders__rejects", "--json")
    assert json.loads(rejects.stdout)["rows"] == [{"line": 3}]


def test_no_pyspark_no_java_and_no_server_each_say_so_in_one_message(tmp_path: Path) -> None:
    local = write_project(
        tmp_path / "local",
        {"models/one.sql": "select 1 as x"},
        config="name: local\nengine:\n  type: spark\n",
    )
    without_pyspark = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['pyspark'] = None; from headgate.cli.main import main; "
            f"sys.argv = ['headgate', '-p', {str(local)!r}, 'run']; main()",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert without_pyspark.returncode == 1
    assert "pip install 'headgate[spark]'" in without_pyspark.stderr + without_pyspark.stdout
    assert "Traceback" not in without_pyspark.stderr

    no_java = subprocess.run(
        [sys.executable, "-m", "headgate.cli.main", "-p", str(local), "run"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": str(Path(sys.executable).parent), "JAVA_HOME": ""},
    )
    assert no_java.returncode == 1
    assert "no Java found" in no_java.stderr + no_java.stdout
    assert "Traceback" not in no_java.stderr

    remote = write_project(
        tmp_path / "remote",
        {"models/one.sql": "select 1 as x"},
        config=f"name: remote\nengine:\n  type: spark\n  remote: sc://127.0.0.1:{free_port()}\n",
    )
    unreachable = headgate(remote, "run")
    assert unreachable.returncode == 1
    assert "cannot reach Spark Connect at 127.0.0.1" in unreachable.stderr + unreachable.stdout
    assert "Traceback" not in unreachable.stderr


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
