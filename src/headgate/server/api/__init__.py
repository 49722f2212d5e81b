"""The REST API, one router module per resource; each route declares its permission."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Every resource's router, in the order the API's docs list them."""
    from headgate.server.api import project

    return [project.router]
