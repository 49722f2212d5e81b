"""Message streams (NATS JetStream, Redis Streams) read in micro-batches, acknowledged after the load.

A source file such as ``sources/events.yml``::

    type: nats
    servers: ${secret:NATS_URL}       # nats://user:password@host:4222, or a list
    ack_wait: 60                      # seconds a batch may take from fetch to ack
    tables:
      orders: {stream: ORDERS, subject: orders.>}

or::

    type: redis_stream
    url: redis://127.0.0.1:6379/0
    group: headgate                   # consumer group, created (reading from the start) if missing
    tables:
      clicks: {stream: clicks}        # the stream's key; each entry's field 'data' holds the JSON

Each message is one JSON object, one record. :func:`read_stream` hands out
:class:`~headgate.sources.stream_batches.StreamBatch` es: the records as an Arrow table
(with ``_message_id``, ``_subject`` or ``_stream``, ``_received_at``), the messages that
are not JSON objects as ``rejects``, and ``ack()``/``nack()``. Delivery is at least once:
a message is acknowledged only when the caller calls ``ack()`` after the transaction
holding the batch committed, so a crash before that delivers it again, to the next
reader. Exactly once in the warehouse comes from the message id: the caller skips (or
deletes) rows whose ``_message_id`` the target already holds, in the same transaction
as the insert. Consumers are durable (a JetStream durable pull consumer; a Redis
consumer group), so "the next reader" may be a new process after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from headgate.project.config import StrictModel
from headgate.sources.errors import SourceError
from headgate.sources.extras import require_drivers

if TYPE_CHECKING:
    from headgate.sources.stream_batches import StreamConnection, StreamRead

# NATS names (streams, consumers) exclude whitespace, '.', '*', '>' and path separators
_NATS_NAME = re.compile(r"[^\s.*>/\\]+")
_SUBJECT_TOKEN = re.compile(r"[^\s.*>]+")


def _nats_name(value: str, what: str) -> str:
    if not _NATS_NAME.fullmatch(value):
        raise ValueError(f"{what} {value!r} may not contain spaces, '.', '*', '>', '/' or '\\'")
    return value


class NatsTableConfig(StrictModel):
    """One table of a NATS source: the messages of one JetStream stream, optionally filtered."""

    stream: str = Field(description="JetStream stream name (ORDERS)")
    subject: str | None = Field(
        default=None, description="subject filter (orders.>, orders.*.created); none: all"
    )
    durable: str | None = Field(
        default=None, description="durable consumer name; default headgate_<table>"
    )
    description: str | None = None

    @field_validator("stream")
    @classmethod
    def _stream_name(cls, value: str) -> str:
        return _nats_name(value, "stream name")

    @field_validator("durable")
    @classmethod
    def _durable_name(cls, value: str | None) -> str | None:
        return None if value is None else _nats_name(value, "durable consumer name")

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str | None) -> str | None:
        if value is None:
            return None
        tokens = value.split(".")
        for index, token in enumerate(tokens):
            wildcard = token == "*" or (token == ">" and index == len(tokens) - 1)
            if not wildcard and not _SUBJECT_TOKEN.fullmatch(token):
                raise ValueError(
                    f"subject {value!r} is not a NATS subject: dot-separated tokens without "
                    "spaces, '*' for one token, '>' as the last token for the rest"
                )
        return value


class NatsSourceConfig(StrictModel):
    """``type: nats``: JetStream streams read by durable pull consumers."""

    type: Literal["nats"]
    servers: str | list[str] = Field(
        description="nats://host:4222 (or a list); credentials as ${secret:NAME}"
    )
    batch_size: int = Field(default=500, ge=1, le=100_000, description="messages per batch")
    max_wait: float = Field(
        default=1.0, gt=0, le=300, description="seconds a fetch waits for a first message"
    )
    ack_wait: float = Field(
        default=60.0,
        gt=0,
        description="seconds from fetch to ack before the server delivers a message again",
    )
    create_stream: bool = Field(
        default=False, description="create a missing stream for the table's subject"
    )
    connect_timeout: int = Field(default=5, ge=1, description="seconds to wait for the server")
    description: str | None = None
    tables: dict[str, NatsTableConfig]

    @field_validator("servers")
    @classmethod
    def _some_server(cls, value: str | list[str]) -> str | list[str]:
        if not (value.strip() if isinstance(value, str) else [v for v in value if v.strip()]):
            raise ValueError("name at least one server (nats://host:4222)")
        return value

    @model_validator(mode="after")
    def _subjects_to_create(self) -> NatsSourceConfig:
        if self.create_stream:
            missing = sorted(name for name, table in self.tables.items() if not table.subject)
            if missing:
                raise ValueError(
                    "create_stream needs each table's subject (the subjects the new stream "
                    f"holds); none for: {', '.join(missing)}"
                )
        return self

    def server_list(self) -> list[str]:
        servers = [self.servers] if isinstance(self.servers, str) else self.servers
        return [server.strip() for server in servers if server.strip()]


class RedisStreamTableConfig(StrictModel):
    """One table of a Redis source: the entries of one stream key, read by a consumer group."""

    stream: str = Field(min_length=1, description="the stream's key")
    group: str | None = Field(default=None, description="consumer group; default: the source's")
    payload_field: str | None = Field(
        default="data",
        description="entry field holding the JSON object; null: the entry's fields are the record",
    )
    description: str | None = None


class RedisStreamSourceConfig(StrictModel):
    """``type: redis_stream``: Redis Streams read by a consumer group."""

    type: Literal["redis_stream"]
    url: str = Field(description="redis://host:6379/0; a password as ${secret:NAME}")
    group: str = Field(default="headgate", min_length=1, description="consumer group")
    consumer: str = Field(
        default="headgate",
        min_length=1,
        description="consumer name; a reader first re-reads what this name left unacknowledged",
    )
    batch_size: int = Field(default=500, ge=1, le=100_000, description="entries per batch")
    block_ms: int = Field(
        default=1000, ge=1, le=300_000, description="milliseconds a read waits for new entries"
    )
    claim_idle_ms: int = Field(
        default=60_000,
        ge=1,
        description="entries unacknowledged this long by any consumer of the group are taken over",
    )
    create_group: bool = Field(
        default=True, description="create a missing group, reading the stream from its start"
    )
    create_stream: bool = Field(default=False, description="create a missing stream key (empty)")
    connect_timeout: float = Field(default=5.0, gt=0, description="seconds to wait for Redis")
    description: str | None = None
    tables: dict[str, RedisStreamTableConfig]


StreamSourceConfig = NatsSourceConfig | RedisStreamSourceConfig

STREAM_SOURCE_CONFIGS: dict[str, type[StrictModel]] = {
    "nats": NatsSourceConfig,
    "redis_stream": RedisStreamSourceConfig,
}


def read_stream(
    config: StreamSourceConfig,
    table_name: str,
    *,
    project_dir: Path,
    source_name: str | None = None,
    max_batches: int | None = None,
    max_messages: int | None = None,
    stop_when_idle: bool = True,
) -> StreamRead:
    """Read ``table_name`` of a stream source as micro-batches (an iterator of ``StreamBatch``).

    Each batch waits for its ``ack()``, to be called after the warehouse transaction
    that holds it committed; ``nack()`` (or closing the read) hands its messages back
    for an early redelivery. The read stops after ``max_batches`` batches, after
    ``max_messages`` messages, or, with ``stop_when_idle``, at the first fetch that finds
    nothing within ``max_wait`` / ``block_ms``; without it the read waits for messages
    until a limit is reached or it is closed.

    Configuration and secrets are checked now; the connection opens with the first
    batch and closes when the read is closed (``with read_stream(...) as batches:``) or
    has ended with every batch settled. Errors are :class:`SourceError`;
    ``SourceUnavailable`` (transient) when the server cannot be reached. No message
    carries a secret.
    """
    from headgate.sources.secrets import Secrets
    from headgate.sources.stream_batches import StreamRead

    label = (
        f"source {source_name!r} table {table_name!r}"
        if source_name
        else f"{config.type} source table {table_name!r}"
    )
    if table_name not in config.tables:
        known = ", ".join(sorted(config.tables)) or "none"
        raise SourceError(f"{label}: no such table in the source (its tables: {known})")
    require_drivers(config.type, source_name)
    for name, value in (("max_batches", max_batches), ("max_messages", max_messages)):
        if value is not None and value < 1:
            raise SourceError(f"{label}: {name} must be at least 1 (got {value})")
    secrets = Secrets(project_dir)
    connect: Callable[[], StreamConnection]
    if isinstance(config, NatsSourceConfig):
        from headgate.sources.nats_stream import nats_connector

        connect = nats_connector(config, table_name, secrets, label)
    else:
        from headgate.sources.redis_stream import redis_connector

        connect = redis_connector(config, table_name, secrets, label)
    return StreamRead(
        connect,
        batch_size=config.batch_size,
        max_batches=max_batches,
        max_messages=max_messages,
        stop_when_idle=stop_when_idle,
        label=label,
    )
