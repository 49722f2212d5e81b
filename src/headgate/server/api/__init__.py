"""The REST API, one router module per resource; each route declares its permission."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Every resource's router, in the order the API's docs list them."""
    from headgate.server.api import (
        agent_exchange,
        agent_store,
        agents,
        deliveries,
        environments,
        events,
        identity,
        journeys,
        lineage,
        models,
        openlineage,
        plans,
        project,
        quality,
        queries,
        runs,
        schedules,
        steps,
    )

    return [
        project.router,
        models.router,
        lineage.router,
        runs.router,
        steps.router,
        schedules.router,
        agents.router,
        agent_exchange.router,  # several tasks per call
        agent_store.router,  # the metadata store, as agents reach it
        quality.router,
        environments.router,
        plans.router,
        deliveries.router,
        queries.router,
        openlineage.router,  # before events': /events/lineage is Marquez's, not an event id
        events.router,
        journeys.router,
        identity.router,  # tokens, users, the audit log
    ]
