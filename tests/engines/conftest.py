"""One engine per parameter: every test here runs on DuckDB, PostgreSQL and Spark.

The PostgreSQL engine uses a schema prefix of the test's own (dropped afterwards), so
tests running side by side on one server never see each other's schemas. Spark tests
share one SparkSession per test process (starting one costs seconds), each with a
database prefix of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from headgate.engines.base import Engine
from headgate.project.config import DuckDBEngineConfig, PostgresEngineConfig, SparkEngineConfig

ENGINES = [
    "duckdb",
    pytest.param("postgres", marks=pytest.mark.services),
    pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.xdist_group("spark")]),
]


@pytest.fixture(params=ENGINES)
def engine_config(
    request: pytest.FixtureRequest, tmp_path: Path
) -> DuckDBEngineConfig | PostgresEngineConfig:
    if request.param == "duckdb":
        return DuckDBEngineConfig(path=str(tmp_path / "warehouse.duckdb"))
    if request.param == "spark":
        return request.getfixturevalue("spark_config")
    url = request.getfixturevalue("postgres_url")
    prefix = request.getfixturevalue("pg_prefix")
    return PostgresEngineConfig(type="postgres", url=url, schema_prefix=prefix)


@pytest.fixture
def engine(
    engine_config: DuckDBEngineConfig | PostgresEngineConfig, tmp_path: Path
) -> Iterator[Engine]:
    from headgate.engines import open_engine

    opened = open_engine(engine_config, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def schema(engine: Engine) -> str:
    """A physical schema in the engine (prefixed on PostgreSQL), created."""
    name = engine.schema_prefix + "headgate_physical"
    engine.ensure_schema(name)
    return name


@pytest.fixture
def headgate_yml(engine_config: DuckDBEngineConfig | PostgresEngineConfig) -> str:
    """headgate.yml for a project on the parametrised engine."""
    if isinstance(engine_config, DuckDBEngineConfig):
        return f"name: conformance\nengine:\n  type: duckdb\n  path: {engine_config.path}\n"
    if isinstance(engine_config, SparkEngineConfig):
        return spark_yml(engine_config)
    return (
        "name: conformance\nengine:\n  type: postgres\n"
        f"  url: {engine_config.url}\n  schema_prefix: {engine_config.schema_prefix}\n"
    )


# --- Spark: one SparkSession per test process, a database prefix per test ------------------


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Where this process's Spark keeps its warehouse and metastore (shared by its tests).

    Without Java or PySpark the Spark tests skip with the reason (fail under
    HEADGATE_REQUIRE_SERVICES=1, as CI runs them).
    """
    from tests.conftest import import_or_require, require_service

    import_or_require("pyspark", "the spark engine")
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and Path(java_home, "bin", "java").exists()):
        require_service("Java (for Spark)", "PATH", "no java (install openjdk-17-jre-headless)")
    folder = tmp_path_factory.mktemp("spark")
    return {
        "warehouse_dir": str(folder / "warehouse"),
        "metastore_dir": str(folder / "metastore_db"),
    }


@pytest.fixture(scope="session")
def spark_connect_port() -> int:
    """The loopback port on which the tests' one Spark also serves Spark Connect, as a
    cluster's Connect server does (a second JVM would cost the tier seconds)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def spark_config(spark_settings: dict[str, str], spark_connect_port: int) -> SparkEngineConfig:
    """The shared local Spark, with databases of this test's own (``sp1a2b3c4d_...``)."""
    return SparkEngineConfig(
        type="spark",
        master="local[2]",
        schema_prefix=f"sp{uuid.uuid4().hex[:8]}_",
        conf={
            "spark.sql.shuffle.partitions": "2",
            "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(spark_connect_port),
        },
        **spark_settings,  # type: ignore[arg-type]
    )


def spark_yml(config: SparkEngineConfig) -> str:
    """headgate.yml for a project on the shared test Spark."""
    conf = "".join(f"    {k}: '{v}'\n" for k, v in config.conf.items())
    return (
        f"name: conformance\nengine:\n  type: spark\n  master: '{config.master}'\n"
        f"  warehouse_dir: {config.warehouse_dir}\n  metastore_dir: {config.metastore_dir}\n"
        f"  schema_prefix: {config.schema_prefix}\n  conf:\n{conf}"
    )
