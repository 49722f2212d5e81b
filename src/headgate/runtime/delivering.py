"""Running deliveries once the models they read are published in an environment.

A delivery never ships data that failed its checks: it reads the environment's
views, and a run that did not publish skips every delivery reading what it built.
The warehouse is opened read-only, so a notebook's kernel can open it too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.observe.own import observe_deliveries
from headgate.plan.naming import view_name

if TYPE_CHECKING:
    from headgate.deliveries.base import DeliveryResult
    from headgate.deliveries.config import Delivery
    from headgate.engines.base import Engine
    from headgate.project.loader import LoadedProject
    from headgate.state.store import StateStore


def deliver(
    project: LoadedProject,
    deliveries: dict[str, Delivery],
    engine: Engine,
    store: StateStore,
    *,
    environment: str,
    run_id: int | None,
    blocked: set[str],
    check_results: list[Any],
    database: Path | None,
) -> list[DeliveryResult]:
    """Run each delivery whose models are all published and none of them is ``blocked``."""
    from headgate.deliveries.base import DeliveryContext, DeliveryResult
    from headgate.deliveries.registry import delivery_reads, run_delivery

    published = store.env_models(environment)

    def resolve(name: str) -> str:
        if name.lower() not in published:
            raise KeyError(name)
        return view_name(name.lower(), environment, engine.schema_prefix)

    context = DeliveryContext(
        session=engine.session(),
        resolve=resolve,
        environment=environment,
        root=project.root,
        check_results=check_results,
        run_id=run_id,
        now=datetime.now(UTC),
        database=database,
    )
    results = []
    for _, delivery in sorted(deliveries.items()):
        reads = [r.lower() for r in delivery_reads(delivery) if r.lower() in project.dag.upstream]
        missing = [r for r in reads if r not in published]
        stopped = [r for r in reads if r in blocked]
        if stopped:
            results.append(DeliveryResult.skipped(delivery, f"{stopped[0]} did not pass this run"))
        elif missing:
            results.append(
                DeliveryResult.skipped(delivery, f"{missing[0]} is not published in {environment}")
            )
        else:
            results.append(run_delivery(delivery, context))
    observe_deliveries(store, environment, run_id, results)  # delivery:<name> runs' events
    return results
