"""Redis Streams: a consumer group per stream key, read in batches, XACKed after the load.

An entry delivered to a consumer stays in the group's pending list until it is
acknowledged, so nothing is lost when a reader dies between read and ack. Each fetch
takes, in this order:

1. entries this reader handed back (``nack``), claimed again at once;
2. entries still pending for this consumer name, once, at the start of a read (the
   consumer name's previous reader died before its ack: its successor resumes them);
3. entries any consumer of the group left unacknowledged longer than
   ``claim_idle_ms`` (``XAUTOCLAIM``: a reader under another name died);
4. new entries (``XREADGROUP ... >``), waiting up to ``block_ms``.

``_message_id`` is the entry id (``1700000000000-0``), the same on every delivery.
Entries trimmed from the stream while pending come back as rejects, so the loss is
visible rather than silent. Needs Redis 6.2 or newer (``XAUTOCLAIM``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from headgate.sources.errors import SourceError, SourceUnavailable
from headgate.sources.stream_batches import RawMessage, StreamConnection

if TYPE_CHECKING:
    import redis

    from headgate.sources.secrets import Secrets
    from headgate.sources.streams import RedisStreamSourceConfig, RedisStreamTableConfig

Entry = tuple[bytes, dict[bytes, bytes] | None]


def redis_connector(
    config: RedisStreamSourceConfig, table_name: str, secrets: Secrets, label: str
) -> Callable[[], RedisConnection]:
    """Resolve the URL now (a missing secret or a bad URL fails here); connect when called."""
    entry = config.tables[table_name]
    url = secrets.resolve(config.url).strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SourceError(
            secrets.mask(f"{label}: the url is not a URL: {url!r}"),
            hint="write redis://host:6379/0 (rediss:// for TLS)",
        ) from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise SourceError(
            secrets.mask(f"{label}: {url!r} is not a redis:// URL"),
            hint="write redis://host:6379/0 (rediss:// for TLS, unix:///path for a socket)",
        )
    if parts.password:
        secrets.remember(parts.password)
    place = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{port or 6379}"
    where = secrets.mask(f"Redis at {place}")
    group = entry.group or config.group
    return lambda: RedisConnection.open(config, entry, group, url, secrets, label, where)


class RedisConnection(StreamConnection):
    origin_column = "_stream"

    def __init__(
        self,
        client: redis.Redis,
        config: RedisStreamSourceConfig,
        entry: RedisStreamTableConfig,
        group: str,
        secrets: Secrets,
        label: str,
        where: str,
    ) -> None:
        self._client = client
        self._config = config
        self._entry = entry
        self._key = entry.stream
        self._group = group
        self._consumer = config.consumer
        self._secrets = secrets
        self._label = label
        self._where = where
        self._retry: list[str] = []  # handed back: claim these first
        self._pending_from: str | None = "0"  # own pending entries after this id; None: done
        self._claim_from = "0-0"  # XAUTOCLAIM's cursor over the group's pending entries

    @classmethod
    def open(
        cls,
        config: RedisStreamSourceConfig,
        entry: RedisStreamTableConfig,
        group: str,
        url: str,
        secrets: Secrets,
        label: str,
        where: str,
    ) -> RedisConnection:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=config.connect_timeout,
                # a blocked XREADGROUP answers after block_ms: wait that long and then some
                socket_timeout=config.block_ms / 1000 + config.connect_timeout,
                retry=Retry(NoBackoff(), 1),  # one fresh connection for a stale pooled one
                protocol=2,
            )
        except ValueError as exc:
            raise SourceError(secrets.mask(f"{label}: bad Redis URL: {exc}")) from None
        connection = cls(client, config, entry, group, secrets, label, where)
        try:
            client.ping()
            connection._ensure_group()
        except BaseException as exc:
            client.close()
            if isinstance(exc, redis.RedisError):
                raise connection._failure(exc, f"connecting to {where}") from None
            raise
        return connection

    def _ensure_group(self) -> None:
        kind = _text(self._client.type(self._key))
        stream = f"stream {self._key!r} on {self._where}"
        if kind == "none" and not self._config.create_stream:
            raise SourceError(
                f"{self._label}: no {stream}",
                hint="check the key, or set create_stream: true to create it empty",
            )
        if kind not in ("none", "stream"):
            raise SourceError(f"{self._label}: key {self._key!r} holds a {kind}, not a stream")
        if kind == "stream":
            groups = self._client.xinfo_groups(self._key)
            if any(_text(g.get("name")) == self._group for g in groups):
                return
        if not self._config.create_group:
            raise SourceError(
                f"{self._label}: {stream} has no consumer group {self._group!r}",
                hint=f"create it (XGROUP CREATE {self._key} {self._group} 0) "
                "or set create_group: true",
            )
        import redis

        try:
            # from id 0: a new group reads what the stream already holds
            self._client.xgroup_create(self._key, self._group, id="0", mkstream=kind == "none")
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise  # another reader created it first: that is what was wanted

    def fetch(self, limit: int) -> list[RawMessage]:
        import redis

        try:
            entries = self._next_entries(limit)
        except redis.RedisError as exc:
            raise self._failure(exc, f"reading {self._key!r} from {self._where}") from None
        return [self._message(entry_id, fields) for entry_id, fields in entries]

    def _next_entries(self, limit: int) -> list[Entry]:
        client, key, group, consumer = self._client, self._key, self._group, self._consumer
        if self._retry:
            ids: list[Any] = self._retry[:limit]
            self._retry = self._retry[limit:]
            claimed = _entries(client.xclaim(key, group, consumer, 0, ids))
            if claimed:
                return claimed
        if self._pending_from is not None:
            own = _stream_entries(
                client.xreadgroup(group, consumer, {key: self._pending_from}, count=limit)
            )
            if own:
                self._pending_from = own[-1][0].decode()
                return own
            self._pending_from = None
        answer: Any = client.xautoclaim(
            key, group, consumer, self._config.claim_idle_ms, self._claim_from, count=limit
        )
        self._claim_from = _text(answer[0])
        taken = _entries(answer[1])
        # Redis 7 also names the pending entries it found deleted (and dropped them)
        taken += [(entry_id, None) for entry_id in (answer[2] if len(answer) > 2 else [])]
        if taken:
            return taken
        return _stream_entries(
            client.xreadgroup(group, consumer, {key: ">"}, count=limit, block=self._config.block_ms)
        )

    def _message(self, entry_id: bytes, fields: dict[bytes, bytes] | None) -> RawMessage:
        message_id = entry_id.decode()
        if not fields:  # every entry has a field: none means it was deleted
            return RawMessage(message_id, self._key, None, message_id)
        name = self._entry.payload_field
        if name is not None:
            payload = fields.get(name.encode())
            if payload is not None:
                return RawMessage(message_id, self._key, payload, message_id)
            shown = ", ".join(sorted(_text(f) for f in fields))
            return RawMessage(
                message_id,
                self._key,
                _fields_json(fields),
                message_id,
                problem=f"the entry has no field {name!r} (its fields: {shown})",
            )
        try:
            record = {k.decode(): v.decode() for k, v in fields.items()}
        except UnicodeDecodeError:
            return RawMessage(
                message_id, self._key, _fields_json(fields), message_id, "not UTF-8 text"
            )
        return RawMessage(message_id, self._key, json.dumps(record).encode(), message_id)

    def ack(self, messages: list[RawMessage]) -> None:
        import redis

        ids = list(dict.fromkeys(m.id for m in messages))
        try:
            if ids:
                self._client.xack(self._key, self._group, *ids)
        except redis.RedisError as exc:
            raise self._failure(
                exc,
                f"acknowledging {len(ids)} entries of {self._key!r} on {self._where}",
                note="they stay pending and are read again; _message_id identifies them",
            ) from None

    def nack(self, messages: list[RawMessage]) -> None:
        """Pending entries cannot be released in Redis: this reader claims them again next."""
        known = set(self._retry)
        self._retry.extend(i for i in dict.fromkeys(m.id for m in messages) if i not in known)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # entries not acked stay pending for the group
            self._client.close()

    def _failure(self, exc: Any, doing: str, note: str = "") -> SourceError:
        import redis

        text = " ".join(str(exc).split()) or type(exc).__name__
        transient = isinstance(exc, redis.ConnectionError | redis.TimeoutError) and not isinstance(
            exc, redis.AuthenticationError | redis.exceptions.AuthorizationError
        )
        hint = None
        if isinstance(exc, redis.AuthenticationError):
            hint = "check the password in the url (write it as ${secret:NAME})"
        elif "NOGROUP" in text:
            hint = f"the consumer group {self._group!r} was deleted while reading"
        message = f"{self._label}: {doing} failed: {text}" + (f" ({note})" if note else "")
        kind = SourceUnavailable if transient else SourceError
        return kind(self._secrets.mask(message), hint=hint)


def _stream_entries(reply: Any) -> list[Entry]:
    """The entries of XREADGROUP's answer for one stream (``[[key, entries]]``; nothing: ``[]``)."""
    return _entries(reply[0][1]) if reply else []


def _entries(items: Any) -> list[Entry]:
    """``(id, fields)`` pairs as redis-py parses them; a deleted entry's fields are None or empty."""
    return [(entry_id, fields or None) for entry_id, fields in items]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields_json(fields: dict[bytes, bytes]) -> bytes:
    """An entry's fields as JSON text, for a reject's ``raw``."""
    shown = {
        k.decode("utf-8", "backslashreplace"): v.decode("utf-8", "backslashreplace")
        for k, v in fields.items()
    }
    return json.dumps(shown, ensure_ascii=False).encode()
