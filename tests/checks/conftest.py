"""Fixtures of the checks tests: a real DuckDB warehouse file with the orders tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from headgate.engines.duckdb import DuckDBEngine
from headgate.project.config import DuckDBEngineConfig
from tests.checks.support import CountingSession, orders_table


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    """A warehouse file with hp.clean_orders, hp.orders (planted) and hp.customers."""
    config = DuckDBEngineConfig(path=str(tmp_path / "warehouse.duckdb"))
    engine = DuckDBEngine.open(config, tmp_path)
    engine.ensure_schema("hp")
    session = engine.session()
    session.create_table_from_arrow("hp.clean_orders", orders_table(planted=False))
    session.create_table_from_arrow("hp.orders", orders_table(planted=True))
    session.create_table_from_arrow(
        "hp.customers", pa.table({"customer_id": pa.array(range(50), pa.int64())})
    )
    yield engine
    engine.close()


@pytest.fixture
def session(engine: DuckDBEngine) -> CountingSession:
    return CountingSession(engine.session())
