"""Deliveries: what leaves the warehouse once its models are published.

Declared one per file in ``deliveries/*.yml``: ``export`` writes a model to a CSV,
Parquet or JSON file, ``report`` renders an HTML page (and PDF) with tables, SVG
charts and the run's check results, ``notebook`` executes a Jupyter notebook with
parameters. ``config`` loads the files, ``registry`` runs a delivery by its type
(one module each: ``export``, ``report``, ``notebook``), ``files`` writes outputs
atomically, ``svg`` draws charts. Jinja2, nbclient and nbconvert are imported only
when a report or notebook runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headgate.deliveries.base import DeliveryContext, DeliveryResult, DeliveryType
    from headgate.deliveries.config import Delivery, load_deliveries
    from headgate.deliveries.registry import (
        DELIVERY_TYPES,
        delivery_reads,
        delivery_type,
        run_delivery,
    )

__all__ = [
    "DELIVERY_TYPES",
    "Delivery",
    "DeliveryContext",
    "DeliveryResult",
    "DeliveryType",
    "delivery_reads",
    "delivery_type",
    "load_deliveries",
    "run_delivery",
]

_HOMES = {
    "DeliveryContext": "base",
    "DeliveryResult": "base",
    "DeliveryType": "base",
    "Delivery": "config",
    "load_deliveries": "config",
    "DELIVERY_TYPES": "registry",
    "delivery_reads": "registry",
    "delivery_type": "registry",
    "run_delivery": "registry",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: reading delivery files does not import the report machinery.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"headgate.deliveries.{_HOMES[name]}"), name)
    raise AttributeError(name)
