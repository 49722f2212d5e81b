"""Micro-batches of stream messages: decoding them to Arrow, and acknowledging them after the load.

What every stream reader shares: a :class:`StreamConnection` (one per backend) fetches
raw messages and acknowledges them; :class:`StreamRead` turns each fetch into a
:class:`StreamBatch` and keeps track of the batches not yet settled, so that closing a
read hands their messages back instead of leaving them to the ack timeout.

Records are typed batch by batch as ``headgate.sources.records`` types JSON: combine
batches with ``pyarrow.concat_tables(batches, promote_options="permissive")``, or let
the warehouse's ``INSERT ... BY NAME`` line up the columns.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from headgate.sources.errors import SourceError

if TYPE_CHECKING:
    import pyarrow as pa

MESSAGE_ID = "_message_id"
RECEIVED_AT = "_received_at"


@dataclass(frozen=True)
class RawMessage:
    """One delivery as a backend fetched it; ``handle`` is what the backend needs to ack it."""

    id: str  # JetStream stream sequence, or Redis entry id: equal across redeliveries
    origin: str  # the message's subject (NATS) or stream key (Redis)
    data: bytes | None  # None: the entry is gone (trimmed from a Redis stream)
    handle: Any
    problem: str | None = None  # a reason to reject found by the backend (no payload field)


@dataclass(frozen=True)
class Reject:
    """A message that is not one JSON object: kept, with why, so it can go to a rejects table."""

    message_id: str
    origin: str
    raw: str  # the bytes as UTF-8 text (undecodable bytes as \\x.. escapes)
    reason: str


class StreamConnection(ABC):
    """A connected consumer of one stream: fetches deliveries, acknowledges them."""

    origin_column: str  # "_subject" or "_stream"

    @abstractmethod
    def fetch(self, limit: int) -> list[RawMessage]:
        """Up to ``limit`` deliveries; empty when none came within the source's wait."""

    @abstractmethod
    def ack(self, messages: list[RawMessage]) -> None:
        """Acknowledge ``messages``: the server will not deliver them again."""

    @abstractmethod
    def nack(self, messages: list[RawMessage]) -> None:
        """Hand ``messages`` back for redelivery as soon as possible."""

    @abstractmethod
    def close(self) -> None: ...


class StreamBatch:
    """One micro-batch: records to load, rejects to keep, and the acknowledgement for both.

    ``table`` holds one row per message that is a JSON object, ``_message_id`` unique
    within the batch; ``ids`` lists those ids in row order (what to skip in the target
    table). ``rejects`` are the other messages. ``ack()`` acknowledges every message of
    the batch, rejects included; call it only after the load committed. ``nack()`` hands
    the messages back for redelivery. Each settles the batch once; a second ``ack()``
    does nothing.
    """

    def __init__(
        self,
        table: pa.Table,
        ids: list[str],
        rejects: list[Reject],
        received_at: datetime,
        origin_column: str,
        ack: Callable[[], None],
        nack: Callable[[], None],
    ) -> None:
        self.table = table
        self.ids = ids
        self.rejects = rejects
        self.received_at = received_at
        self.origin_column = origin_column
        self._ack = ack
        self._nack = nack
        self.state: Literal["open", "acked", "nacked"] = "open"

    def __len__(self) -> int:
        """Messages in the batch: rows plus rejects."""
        return len(self.ids) + len(self.rejects)

    def ack(self) -> None:
        if self.state == "acked":
            return
        if self.state == "nacked":
            raise SourceError("this batch was handed back (nack) and can no longer be acked")
        self._ack()
        self.state = "acked"

    def nack(self) -> None:
        if self.state == "nacked":
            return
        if self.state == "acked":
            raise SourceError("this batch was acknowledged and can no longer be handed back")
        self._nack()
        self.state = "nacked"

    def rejects_table(self) -> pa.Table:
        """The rejects as rows: ``_message_id``, origin, ``_received_at``, ``raw``, ``reason``."""
        import pyarrow as pa

        count = len(self.rejects)
        return pa.table(
            {
                MESSAGE_ID: pa.array([r.message_id for r in self.rejects], pa.string()),
                self.origin_column: pa.array([r.origin for r in self.rejects], pa.string()),
                RECEIVED_AT: pa.array([self.received_at] * count, pa.timestamp("us", tz="UTC")),
                "raw": pa.array([r.raw for r in self.rejects], pa.string()),
                "reason": pa.array([r.reason for r in self.rejects], pa.string()),
            }
        )


def decode(message: RawMessage, reserved: tuple[str, ...]) -> dict[str, Any] | str:
    """The message's record, or the reason it is rejected."""
    if message.problem is not None:
        return message.problem
    if message.data is None:
        return "the entry was deleted from the stream before it was read"
    try:
        value = json.loads(message.data, parse_constant=_no_constant)
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}
        return f"a JSON {kind.get(type(value), 'number')}, not an object"
    clash = [name for name in reserved if name in value]
    if clash:
        return f"has field(s) {', '.join(clash)}, which headgate adds itself"
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def raw_text(data: bytes | None) -> str:
    return "" if data is None else data.decode("utf-8", errors="backslashreplace")


def build_batch(
    messages: list[RawMessage],
    origin_column: str,
    received_at: datetime,
    ack: Callable[[], None],
    nack: Callable[[], None],
) -> StreamBatch:
    """A batch from deliveries: one row per distinct id, in order; the rest as rejects."""
    import pyarrow as pa

    from headgate.sources.records import records_to_table

    reserved = (MESSAGE_ID, origin_column, RECEIVED_AT)
    seen: set[str] = set()
    records: list[dict[str, Any]] = []
    ids: list[str] = []
    origins: list[str] = []
    rejects: list[Reject] = []
    for message in messages:
        if message.id in seen:
            continue  # delivered twice within one fetch: one row, both deliveries acked
        seen.add(message.id)
        decoded = decode(message, reserved)
        if isinstance(decoded, str):
            rejects.append(Reject(message.id, message.origin, raw_text(message.data), decoded))
            continue
        records.append(decoded)
        ids.append(message.id)
        origins.append(message.origin)
    payload = records_to_table(records)
    columns: dict[str, pa.Array] = {
        MESSAGE_ID: pa.array(ids, pa.string()),
        origin_column: pa.array(origins, pa.string()),
        RECEIVED_AT: pa.array([received_at] * len(ids), pa.timestamp("us", tz="UTC")),
    }
    for name in payload.column_names:
        columns[name] = payload.column(name)
    return StreamBatch(pa.table(columns), ids, rejects, received_at, origin_column, ack, nack)


class StreamRead(Iterator[StreamBatch]):
    """The batches of one table, from one connection; see ``headgate.sources.streams.read_stream``."""

    def __init__(
        self,
        connect: Callable[[], StreamConnection],
        *,
        batch_size: int,
        max_batches: int | None,
        max_messages: int | None,
        stop_when_idle: bool,
        label: str,
    ) -> None:
        self._connect = connect
        self._batch_size = batch_size
        self._max_batches = max_batches
        self._max_messages = max_messages
        self._stop_when_idle = stop_when_idle
        self.label = label
        self._connection: StreamConnection | None = None
        self._unsettled: dict[int, list[RawMessage]] = {}
        self._finished = False  # no more batches will be fetched
        self._closed = False  # the connection is gone: acks are impossible
        self.batches = 0
        self.messages = 0

    def __iter__(self) -> StreamRead:
        return self

    def __next__(self) -> StreamBatch:
        while not self._finished:
            limit = self._limit()
            if limit == 0:
                break
            if self._connection is None:
                self._connection = self._connect()
            try:
                fetched = self._connection.fetch(limit)
            except BaseException:
                self.close()
                raise
            if fetched:
                self.batches += 1
                self.messages += len(fetched)
                return self._batch(self._connection, fetched)
            if self._stop_when_idle:
                break
        self._finish()
        raise StopIteration

    def _limit(self) -> int:
        if self._max_batches is not None and self.batches >= self._max_batches:
            return 0
        if self._max_messages is None:
            return self._batch_size
        return max(0, min(self._batch_size, self._max_messages - self.messages))

    def _batch(self, connection: StreamConnection, messages: list[RawMessage]) -> StreamBatch:
        key = self.batches
        self._unsettled[key] = messages

        def settle(how: Callable[[list[RawMessage]], None], verb: str) -> None:
            if self._closed:
                raise SourceError(
                    f"{self.label}: cannot {verb} a batch after its read was closed; its "
                    f"messages will be delivered again (their {MESSAGE_ID} identifies the repeats)",
                    hint="settle each batch before the read ends (inside the for loop or 'with')",
                )
            how(messages)
            self._unsettled.pop(key, None)
            if self._finished and not self._unsettled:
                self.close()

        return build_batch(
            messages,
            connection.origin_column,
            datetime.now(UTC),
            lambda: settle(connection.ack, "acknowledge"),
            lambda: settle(connection.nack, "hand back"),
        )

    def _finish(self) -> None:
        """No more batches; the connection stays until the batches handed out are settled."""
        self._finished = True
        if not self._unsettled:
            self.close()

    def close(self) -> None:
        """End the read: unsettled batches go back for redelivery, the connection closes."""
        self._finished = True
        if self._closed:
            return
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is None:
            return
        pending = [m for messages in self._unsettled.values() for m in messages]
        self._unsettled.clear()
        try:
            if pending:
                connection.nack(pending)
        except SourceError:
            pass  # unacknowledged messages come back after the ack timeout all the same
        finally:
            connection.close()

    def __enter__(self) -> StreamRead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()
