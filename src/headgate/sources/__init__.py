"""Ingestion connectors: reading databases and HTTP APIs as Arrow, with secrets kept out of sight.

Importing this package loads only the configuration models (Pydantic); drivers,
pyarrow and httpx load when a read starts, so the CLI stays quick to start.
``SOURCE_CONFIGS`` maps the ``type:`` a source file names to its model.
"""

from __future__ import annotations

from headgate.project.config import StrictModel
from headgate.sources.databases import (
    DEFAULT_BATCH_ROWS,
    DatabaseRead,
    DatabaseTableConfig,
    MySQLSourceConfig,
    PostgresSourceConfig,
    SQLiteSourceConfig,
    read_table,
)
from headgate.sources.errors import SourceError, SourceUnavailable
from headgate.sources.http import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    HttpSourceConfig,
    HttpTableConfig,
    PaginationConfig,
    read_endpoint,
)
from headgate.sources.secrets import Secrets, mask, mask_url_passwords, resolve_secrets


def _external_configs() -> dict[str, type[StrictModel]]:
    from headgate.sources.types import source_types

    return {name: kind.config for name, kind in source_types().items() if kind.external}


SOURCE_CONFIGS: dict[str, type[StrictModel]] = _external_configs()

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "SOURCE_CONFIGS",
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "DatabaseRead",
    "DatabaseTableConfig",
    "HttpSourceConfig",
    "HttpTableConfig",
    "MySQLSourceConfig",
    "PaginationConfig",
    "PostgresSourceConfig",
    "SQLiteSourceConfig",
    "Secrets",
    "SourceError",
    "SourceUnavailable",
    "mask",
    "mask_url_passwords",
    "read_endpoint",
    "read_table",
    "resolve_secrets",
]
