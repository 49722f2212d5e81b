"""One engine per parameter: every test here runs on DuckDB and on PostgreSQL.

The PostgreSQL engine uses a schema prefix of the test's own (dropped afterwards), so
tests running side by side on one server never see each other's schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headgate.engines.base import Engine
from headgate.project.config import DuckDBEngineConfig, PostgresEngineConfig

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.services)]


@pytest.fixture(params=ENGINES)
def engine_config(
    request: pytest.FixtureRequest, tmp_path: Path
) -> DuckDBEngineConfig | PostgresEngineConfig:
    if request.param == "duckdb":
        return DuckDBEngineConfig(path=str(tmp_path / "warehouse.duckdb"))
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
    return (
        "name: conformance\nengine:\n  type: postgres\n"
        f"  url: {engine_config.url}\n  schema_prefix: {engine_config.schema_prefix}\n"
    )
