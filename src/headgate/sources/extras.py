"""The Python packages each source type reads with, and what to install when one is missing.

``pip install headgate`` brings file sources only; database, API and stream drivers
come with the ``sources`` extra (``pip install 'headgate[sources]'``). A read imports
its drivers first, so a missing one is named with the command that installs it, not
shown as a ``ModuleNotFoundError`` in the run's table.
"""

from __future__ import annotations

import importlib

from headgate.sources.errors import SourceError

SOURCES_EXTRA = "sources"

# source type -> the modules its reads import, each with the pip package that brings it
DRIVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "postgres": (
        ("adbc_driver_manager", "adbc-driver-manager"),
        ("adbc_driver_postgresql", "adbc-driver-postgresql"),
    ),
    "mysql": (("pymysql", "pymysql"), ("connectorx", "connectorx")),
    "sqlite": (
        ("adbc_driver_manager", "adbc-driver-manager"),
        ("adbc_driver_sqlite", "adbc-driver-sqlite"),
    ),
    "http": (("httpx", "httpx"),),
    "nats": (("nats", "nats-py"),),
    "redis_stream": (("redis", "redis"),),
}


def require_drivers(kind: str, source_name: str | None) -> None:
    """Import the drivers of a ``kind`` source; a missing one raises :class:`SourceError`."""
    for module, package in DRIVERS.get(kind, ()):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or module
            what = f"source '{source_name}'" if source_name else "a source"
            raise SourceError(
                f"{what} (type: {kind}) reads with the Python package {package}, which is not "
                f"installed (no module named {missing!r})",
                hint=f"install headgate's {SOURCES_EXTRA} extra: pip install "
                f"'headgate[{SOURCES_EXTRA}]'",
            ) from None
