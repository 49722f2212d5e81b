"""Warehouse engines behind one small interface; one module per engine, driver imported lazily."""

from __future__ import annotations

from headgate.engines.base import Capabilities, Engine, EngineSession

__all__ = ["Capabilities", "Engine", "EngineSession", "engine_dialect", "open_engine"]

# engine type -> the SQL dialect it runs
DIALECTS = {"duckdb": "duckdb", "postgres": "postgres", "spark": "spark"}


def engine_dialect(config: object) -> str:
    """The SQL dialect the engine an ``engine:`` block (or its dict) names runs, without opening it."""
    kind = (
        config.get("type", "duckdb") if isinstance(config, dict) else getattr(config, "type", None)
    )
    return DIALECTS.get(str(kind), "duckdb")


def open_engine(config: object, root: object, **kwargs: object) -> Engine:
    """Open the engine a project's ``engine:`` block names."""
    from pathlib import Path

    kind = getattr(config, "type", None)
    assert isinstance(root, Path)
    if kind == "duckdb":
        from headgate.engines.duckdb import DuckDBEngine

        return DuckDBEngine.open(config, root, **kwargs)  # type: ignore[arg-type]
    if kind == "postgres":
        from headgate.engines.postgres import PostgresEngine

        return PostgresEngine.open(config, root, **kwargs)  # type: ignore[arg-type]
    if kind == "spark":
        from headgate.engines.spark import SparkEngine

        return SparkEngine.open(config, root, **kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown engine type {kind!r}")
