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
from headgate.sources.streams import STREAM_SOURCE_CONFIGS

SOURCE_CONFIGS: dict[str, type[StrictModel]] = {
    "postgres": PostgresSourceConfig,
    "mysql": MySQLSourceConfig,
    "sqlite": SQLiteSourceConfig,
    "http": HttpSourceConfig,
    **STREAM_SOURCE_CONFIGS,  # nats, redis_stream
}

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
