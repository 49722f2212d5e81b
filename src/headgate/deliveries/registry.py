"""Delivery types by the name a delivery file gives in ``type:``, and running one delivery.

``run_delivery`` is what a run's deliver task calls: it times the delivery and turns
a user's mistake (a bad query, a model not published, a template error) into a
``failed`` result, so one broken delivery is reported without stopping the others.
Transient errors (the warehouse is busy) are raised, so the task can be retried.
"""

from __future__ import annotations

import time
from typing import Any

from headgate.deliveries.base import DeliveryContext, DeliveryResult, DeliveryType
from headgate.deliveries.config import Delivery
from headgate.deliveries.export import ExportType
from headgate.deliveries.notebook import NotebookType
from headgate.deliveries.report import ReportType
from headgate.errors import HeadgateError

DELIVERY_TYPES: dict[str, DeliveryType[Any]] = {
    kind.name: kind for kind in (ExportType(), ReportType(), NotebookType())
}


def delivery_type(name: str) -> DeliveryType[Any]:
    try:
        return DELIVERY_TYPES[name]
    except KeyError:
        allowed = ", ".join(DELIVERY_TYPES)
        raise HeadgateError(f"unknown delivery type '{name}'", hint=f"allowed: {allowed}") from None


def delivery_reads(delivery: Delivery) -> list[str]:
    """The models a delivery reads, lower-cased, in the order it names them.

    A report's queries may also name tables headgate does not build (another
    schema, ``information_schema``); the caller keeps the names that are models.
    """
    return delivery_type(delivery.type).reads(delivery)


def run_delivery(delivery: Delivery, ctx: DeliveryContext) -> DeliveryResult:
    """Run one delivery: its result, ``failed`` with the reason when a user's mistake stopped it."""
    started = time.perf_counter()
    try:
        result = delivery_type(delivery.type).run(delivery, ctx)
    except HeadgateError as exc:
        if exc.transient:
            raise
        result = DeliveryResult(delivery.name, delivery.type, "failed", message=exc.render())
    except ModuleNotFoundError as exc:
        message = (
            f"{delivery.type} deliveries need the module '{exc.name}': "
            "pip install 'headgate[deliveries]'"
        )
        result = DeliveryResult(delivery.name, delivery.type, "failed", message=message)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        result = DeliveryResult(
            delivery.name, delivery.type, "failed", message=f"cannot write{where}: {exc.strerror}"
        )
    result.seconds = round(time.perf_counter() - started, 3)
    return result
