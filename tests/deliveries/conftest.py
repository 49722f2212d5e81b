"""Fixtures of the deliveries tests: a real DuckDB warehouse file with an environment's views.

The models live in physical tables; environment ``dev-alice`` reads them through
views (``marts__dev_alice.daily_revenue``), while ``prod``'s view of the same model
points at an older table with different numbers, so a test can tell which one a
delivery read. The warehouse is built, closed, and reopened read-only, as a
delivery sees it after the run's writer closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from headgate.deliveries.base import DeliveryContext
from headgate.engines.base import ViewSpec
from headgate.engines.duckdb import DuckDBEngine
from headgate.plan.naming import view_name
from headgate.project.config import DuckDBEngineConfig
from tests.deliveries.support import ENVIRONMENT, NOW, PHYSICAL, Warehouse, old_daily_revenue


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    root = tmp_path / "project"
    root.mkdir()
    config = DuckDBEngineConfig(path=".headgate/warehouse.duckdb")
    engine = DuckDBEngine.open(config, root)
    try:
        engine.ensure_schema("headgate_physical")
        session = engine.session()
        for physical, make in PHYSICAL.values():
            session.create_table_from_arrow(physical, make())
        session.create_table_from_arrow(
            "headgate_physical.marts__daily_revenue__old", old_daily_revenue()
        )
        views = {model: view_name(model, ENVIRONMENT) for model in PHYSICAL}
        specs = [ViewSpec(views[m], physical) for m, (physical, _) in PHYSICAL.items()]
        prod = ViewSpec(
            view_name("marts.daily_revenue", "prod"), "headgate_physical.marts__daily_revenue__old"
        )
        engine.publish_views([*specs, prod], [])
    finally:
        engine.close()
    return Warehouse(root, root / ".headgate" / "warehouse.duckdb", views)


@pytest.fixture
def reader(warehouse: Warehouse) -> Iterator[DuckDBEngine]:
    """The warehouse opened read-only: notebooks' kernels may open it at the same time."""
    config = DuckDBEngineConfig(path=str(warehouse.path))
    engine = DuckDBEngine.open(config, warehouse.root, read_only=True)
    yield engine
    engine.close()


@pytest.fixture
def make_context(warehouse: Warehouse, reader: DuckDBEngine) -> Callable[..., DeliveryContext]:
    base = DeliveryContext(
        session=reader.session(),
        resolve=warehouse.resolve,
        environment=ENVIRONMENT,
        root=warehouse.root,
        run_id=41,
        now=NOW,
        database=warehouse.path,
    )

    def make(**changes: Any) -> DeliveryContext:
        return replace(base, **changes)

    return make
