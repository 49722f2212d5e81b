"""Stream sources without a server: configuration, batches, settling, and unreachable ports."""

from __future__ import annotations

import socket
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from pydantic import ValidationError

from headgate.sources import SOURCE_CONFIGS, SourceError, SourceUnavailable
from headgate.sources.stream_batches import (
    RawMessage,
    StreamBatch,
    StreamConnection,
    StreamRead,
    build_batch,
)
from headgate.sources.streams import (
    NatsSourceConfig,
    RedisStreamSourceConfig,
    read_stream,
)


def nats_config(**options: Any) -> NatsSourceConfig:
    settings = {"type": "nats", "servers": "nats://127.0.0.1:4222", **options}
    settings.setdefault("tables", {"events": {"stream": "EVENTS", "subject": "events.>"}})
    return NatsSourceConfig.model_validate(settings)


def redis_config(**options: Any) -> RedisStreamSourceConfig:
    settings = {"type": "redis_stream", "url": "redis://127.0.0.1:6379/0", **options}
    settings.setdefault("tables", {"events": {"stream": "events"}})
    return RedisStreamSourceConfig.model_validate(settings)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- configuration -------------------------------------------------------------------


def test_stream_types_are_registered_with_the_sources() -> None:
    assert SOURCE_CONFIGS["nats"] is NatsSourceConfig
    assert SOURCE_CONFIGS["redis_stream"] is RedisStreamSourceConfig


def test_source_files_as_documented_parse() -> None:
    nats = SOURCE_CONFIGS["nats"].model_validate(
        yaml.safe_load(
            """
            type: nats
            servers: ["${secret:NATS_URL}", nats://127.0.0.1:4223]
            ack_wait: 30
            tables:
              orders: {stream: ORDERS, subject: orders.>}
              created: {stream: ORDERS, subject: orders.*.created, durable: created_v2}
            """
        )
    )
    assert isinstance(nats, NatsSourceConfig)
    assert nats.server_list() == ["${secret:NATS_URL}", "nats://127.0.0.1:4223"]
    assert nats.tables["created"].durable == "created_v2"
    assert (nats.batch_size, nats.max_wait, nats.create_stream) == (500, 1.0, False)
    redis = SOURCE_CONFIGS["redis_stream"].model_validate(
        yaml.safe_load(
            """
            type: redis_stream
            url: redis://:${secret:REDIS_PASSWORD}@127.0.0.1:6379/0
            tables:
              clicks: {stream: clicks}
              raw: {stream: "raw:events", group: audit, payload_field: null}
            """
        )
    )
    assert isinstance(redis, RedisStreamSourceConfig)
    assert (redis.group, redis.consumer, redis.create_group) == ("headgate", "headgate", True)
    assert redis.tables["clicks"].payload_field == "data"
    assert redis.tables["raw"].payload_field is None


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"batch": 10}, "Extra inputs are not permitted"),
        ({"servers": []}, "at least one server"),
        ({"create_stream": True, "tables": {"a": {"stream": "A"}}}, "needs each table's subject"),
        ({"tables": {"a": {"stream": "A.B"}}}, "stream name 'A.B'"),
        ({"tables": {"a": {"stream": "A", "durable": "my consumer"}}}, "durable consumer name"),
        ({"tables": {"a": {"stream": "A", "subject": "a.>.b"}}}, "is not a NATS subject"),
        ({"tables": {"a": {"stream": "A", "subject": "a..b"}}}, "is not a NATS subject"),
        ({"ack_wait": 0}, "greater than 0"),
    ],
)
def test_nats_config_mistakes_are_named(options: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        nats_config(**options)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"block_ms": 0}, "greater than or equal to 1"),
        ({"tables": {"a": {"stream": ""}}}, "at least 1 character"),
        ({"tables": {"a": {"key": "a"}}}, "Extra inputs are not permitted"),
    ],
)
def test_redis_config_mistakes_are_named(options: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        redis_config(**options)


def test_read_checks_table_limits_secrets_and_url_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no such table in the source \(its tables: events\)"):
        read_stream(nats_config(), "orders", project_dir=tmp_path)
    with pytest.raises(SourceError, match="max_batches must be at least 1"):
        read_stream(redis_config(), "events", project_dir=tmp_path, max_batches=0)
    with pytest.raises(SourceError, match="secret HG_TEST_NO_SUCH_SECRET is not set"):
        read_stream(
            nats_config(servers="${secret:HG_TEST_NO_SUCH_SECRET}"), "events", project_dir=tmp_path
        )
    with pytest.raises(SourceError, match="is not a redis:// URL"):
        read_stream(redis_config(url="http://127.0.0.1:6379"), "events", project_dir=tmp_path)


# --- unreachable servers -------------------------------------------------------------


def test_unreachable_nats_is_a_quick_transient_error_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("HG_TEST_NATS_URL", f"nats://reader:s3cr3t-pw@127.0.0.1:{port}")
    config = nats_config(servers="${secret:HG_TEST_NATS_URL}", connect_timeout=2)
    started = time.monotonic()
    with (
        pytest.raises(SourceUnavailable) as caught,
        read_stream(config, "events", project_dir=tmp_path, source_name="bus") as batches,
    ):
        next(batches)
    assert time.monotonic() - started < 60  # gives up after connect_timeout, not minutes later
    error = caught.value
    assert error.transient
    assert f"source 'bus' table 'events': connecting to NATS at 127.0.0.1:{port}" in error.message
    assert "s3cr3t-pw" not in error.render()
    assert "nats-server" in (error.hint or "")


def test_unreachable_redis_is_a_quick_transient_error_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("HG_TEST_REDIS_PASSWORD", "s3cr3t-pw")
    config = redis_config(url=f"redis://:${{secret:HG_TEST_REDIS_PASSWORD}}@127.0.0.1:{port}/0")
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        next(read_stream(config, "events", project_dir=tmp_path))
    assert time.monotonic() - started < 60  # gives up, never retries for minutes
    assert caught.value.transient
    assert f"connecting to Redis at 127.0.0.1:{port} failed" in caught.value.message
    assert "s3cr3t-pw" not in caught.value.render()


# --- batches -------------------------------------------------------------------------


def message(number: int, data: bytes | None, origin: str = "orders.eu") -> RawMessage:
    return RawMessage(str(number), origin, data, handle=number)


def test_a_batch_has_one_row_per_json_object_and_keeps_everything_else_as_rejects() -> None:
    received = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    batch = build_batch(
        [
            message(
                1, b'{"id": 1, "price": 2, "tags": ["a"], "customer": {"city": "K\xc3\xb6ln"}}'
            ),
            message(2, b"not json"),
            message(3, b'{"id": 3, "price": 2.5, "note": "x"}'),
            message(4, b"[1, 2]"),
            message(5, b'{"id": "\xff"}'),
            message(6, b'{"id": 6, "_message_id": "forged"}'),
            message(7, b'{"id": 7, "price": NaN}'),
            message(8, None),
            message(3, b'{"id": 3, "price": 2.5, "note": "x"}'),  # a second delivery of 3
        ],
        "_subject",
        received,
        ack=lambda: None,
        nack=lambda: None,
    )
    table = batch.table
    assert batch.ids == ["1", "3"]
    assert table.column_names == [
        "_message_id",
        "_subject",
        "_received_at",
        "id",
        "price",
        "tags",
        "customer",
        "note",
    ]
    assert table.schema.field("_received_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("price").type == pa.float64()
    assert table.schema.field("customer").type == pa.json_()
    assert table.column("customer").to_pylist() == ['{"city":"Köln"}', None]
    assert table.column("_subject").to_pylist() == ["orders.eu", "orders.eu"]
    reasons = {reject.message_id: reject.reason for reject in batch.rejects}
    assert reasons["2"].startswith("not valid JSON")
    assert reasons["4"] == "a JSON array, not an object"
    assert reasons["5"] == "not UTF-8 text"
    assert reasons["6"] == "has field(s) _message_id, which headgate adds itself"
    assert reasons["7"].startswith("not valid JSON: NaN")
    assert reasons["8"] == "the entry was deleted from the stream before it was read"
    assert len(batch) == 8
    rejects = batch.rejects_table()
    assert rejects.column_names == ["_message_id", "_subject", "_received_at", "raw", "reason"]
    assert rejects.column("raw").to_pylist()[:3] == ["not json", "[1, 2]", '{"id": "\\xff"}']
    assert rejects.column("_received_at").to_pylist()[0] == received


class FakeConnection(StreamConnection):
    """Deliveries from a script: each fetch takes up to ``limit`` from the next scripted fetch."""

    origin_column = "_stream"

    def __init__(self, fetches: list[list[bytes]], fail_on: int | None = None) -> None:
        self.fetches = deque(fetches)
        self.fail_on = fail_on
        self.limits: list[int] = []
        self.acked: list[str] = []
        self.nacked: list[str] = []
        self.closed = False
        self.sent = 0

    def fetch(self, limit: int) -> list[RawMessage]:
        self.limits.append(limit)
        if self.fail_on is not None and len(self.limits) == self.fail_on:
            raise SourceUnavailable("the fake server went away")
        if not self.fetches:
            return []
        scripted = self.fetches.popleft()
        taken, rest = scripted[:limit], scripted[limit:]
        if rest:
            self.fetches.appendleft(rest)
        messages = []
        for data in taken:
            self.sent += 1
            messages.append(RawMessage(str(self.sent), "events", data, handle=self.sent))
        return messages

    def ack(self, messages: list[RawMessage]) -> None:
        self.acked += [m.id for m in messages]

    def nack(self, messages: list[RawMessage]) -> None:
        self.nacked += [m.id for m in messages]

    def close(self) -> None:
        self.closed = True


def fake_read(
    connection: FakeConnection,
    *,
    max_batches: int | None = None,
    max_messages: int | None = None,
    stop_when_idle: bool = True,
) -> StreamRead:
    return StreamRead(
        lambda: connection,
        batch_size=3,
        max_batches=max_batches,
        max_messages=max_messages,
        stop_when_idle=stop_when_idle,
        label="fake table",
    )


ROW = b'{"n": 1}'


def test_limits_shape_the_fetches_and_the_read_stops_when_idle() -> None:
    connection = FakeConnection([[ROW] * 7])
    sizes = []
    for batch in fake_read(connection, max_messages=5):
        sizes.append(len(batch))
        batch.ack()
    assert sizes == [3, 2]
    assert connection.limits == [3, 2]
    assert connection.acked == ["1", "2", "3", "4", "5"]
    assert connection.closed

    connection = FakeConnection([[ROW] * 7])
    batches = list(fake_read(connection, max_batches=1))
    assert [len(b) for b in batches] == [3]

    connection = FakeConnection([[ROW] * 2])
    assert [len(b) for b in fake_read(connection)] == [2]
    assert connection.limits == [3, 3]  # the second, empty fetch ended the read


def test_without_stop_when_idle_the_read_waits_through_empty_fetches() -> None:
    connection = FakeConnection([[ROW], [], [], [ROW, ROW]])
    read = fake_read(connection, stop_when_idle=False, max_messages=3)
    assert [len(b) for b in read] == [1, 2]
    assert connection.limits == [3, 2, 2, 2]


def test_the_connection_outlives_the_read_until_every_batch_is_settled() -> None:
    connection = FakeConnection([[ROW, ROW, ROW, ROW, b"oops"]])
    batches = list(fake_read(connection))
    assert [len(b) for b in batches] == [3, 2]
    assert not connection.closed  # both batches still wait for their ack
    batches[0].ack()
    batches[0].ack()  # settled once: a second ack does nothing
    assert connection.acked == ["1", "2", "3"]
    assert not connection.closed
    batches[1].ack()
    assert connection.acked == ["1", "2", "3", "4", "5"]  # the reject is acked with its batch
    assert connection.closed


def test_closing_a_read_hands_its_unsettled_batches_back() -> None:
    connection = FakeConnection([[ROW] * 6])
    with fake_read(connection) as read:
        first: StreamBatch = next(read)
        second = next(read)
        first.ack()
    assert connection.nacked == ["4", "5", "6"]
    assert connection.closed
    with pytest.raises(SourceError, match="after its read was closed; its messages will be"):
        second.ack()


def test_a_batch_settles_once() -> None:
    connection = FakeConnection([[ROW] * 6])
    read = fake_read(connection)
    first, second = next(read), next(read)
    first.nack()
    assert connection.nacked == ["1", "2", "3"]
    with pytest.raises(SourceError, match="handed back"):
        first.ack()
    second.ack()
    with pytest.raises(SourceError, match="acknowledged and can no longer be handed back"):
        second.nack()
    read.close()


def test_a_failed_fetch_ends_the_read_and_hands_back_what_is_unsettled() -> None:
    connection = FakeConnection([[ROW] * 6], fail_on=2)
    read = fake_read(connection)
    held = next(read)
    with pytest.raises(SourceUnavailable, match="went away"):
        next(read)
    assert connection.nacked == ["1", "2", "3"]
    assert connection.closed
    assert held.state == "open"
    with pytest.raises(StopIteration):
        next(read)
