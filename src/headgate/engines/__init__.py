"""Warehouse engines behind one small interface; one module per engine, driver imported lazily."""

from __future__ import annotations

from headgate.engines.base import Capabilities, Engine, EngineSession

__all__ = ["Capabilities", "Engine", "EngineSession", "open_engine"]


def open_engine(config: object, root: object, **kwargs: object) -> Engine:
    """Open the engine a project's ``engine:`` block names."""
    from pathlib import Path

    kind = getattr(config, "type", None)
    if kind == "duckdb":
        from headgate.engines.duckdb import DuckDBEngine

        assert isinstance(root, Path)
        return DuckDBEngine.open(config, root, **kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown engine type {kind!r}")
