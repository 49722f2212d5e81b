"""Reading NATS JetStream in micro-batches, against the real server on loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from headgate.sources import SourceError
from headgate.sources.streams import NatsSourceConfig, read_stream
from tests.sources.conftest_streams import NatsStream

pytestmark = pytest.mark.services


def source(stream: NatsStream, **options: Any) -> NatsSourceConfig:
    settings: dict[str, Any] = {"batch_size": 10, "max_wait": 0.3, "ack_wait": 30, **options}
    settings.setdefault(
        "tables", {"events": {"stream": stream.name, "subject": f"{stream.prefix}.>"}}
    )
    return NatsSourceConfig.model_validate({"type": "nats", "servers": stream.url, **settings})


def ids_of(batches: list[Any]) -> list[str]:
    return [i for batch in batches for i in batch.ids]


def test_batches_carry_records_and_acked_messages_never_come_back(
    nats_stream: NatsStream, tmp_path: Path
) -> None:
    orders = [{"id": i, "total": i * 1.5, "customer": {"name": f"Zoë {i}"}} for i in range(25)]
    sequences = nats_stream.publish(orders, subject="orders.eu")
    config = source(nats_stream)
    sizes = []
    with read_stream(config, "events", project_dir=tmp_path) as batches:
        for batch in batches:
            sizes.append(len(batch))
            first = batch.table.slice(0, 1).to_pylist()[0]
            assert first["_subject"] == f"{nats_stream.prefix}.orders.eu"
            assert first["_received_at"].tzinfo is not None
            batch.ack()
            if len(sizes) == 1:
                assert batch.ids == [str(s) for s in sequences[:10]]
                assert first["id"] == 0
                assert first["customer"] == '{"name":"Zoë 0"}'
    assert sizes == [10, 10, 5]
    consumer = nats_stream.consumer("headgate_events")
    assert (consumer.num_ack_pending, consumer.num_pending) == (0, 0)
    assert consumer.config.ack_wait == 30
    again = list(read_stream(config, "events", project_dir=tmp_path))
    assert again == []


def test_a_crashed_reader_s_messages_go_to_the_next_reader_after_ack_wait(
    nats_stream: NatsStream, tmp_path: Path
) -> None:
    nats_stream.publish([{"n": n} for n in range(6)])
    # ack_wait is wide enough that the empty read below ends within it on a busy machine
    config = source(nats_stream, ack_wait=3)
    crashed = read_stream(config, "events", project_dir=tmp_path, max_batches=1)
    lost = next(crashed)  # fetched, loaded maybe, never acknowledged: the process hangs or dies
    assert len(lost) == 6
    fetched = time.monotonic()  # the messages were delivered before this
    # within ack_wait the messages belong to the crashed reader: nobody else gets them
    assert list(read_stream(config, "events", project_dir=tmp_path)) == []
    time.sleep(max(0.0, 3.2 - (time.monotonic() - fetched)))
    with read_stream(config, "events", project_dir=tmp_path) as batches:
        redelivered = list(batches)
        for batch in redelivered:
            batch.ack()
    # the same ids as the first delivery: the caller's _message_id check drops the repeats
    assert ids_of(redelivered) == lost.ids
    assert [r["n"] for b in redelivered for r in b.table.to_pylist()] == list(range(6))
    crashed.close()
    assert list(read_stream(config, "events", project_dir=tmp_path)) == []


def test_closing_a_read_without_ack_hands_the_messages_back_at_once(
    nats_stream: NatsStream, tmp_path: Path
) -> None:
    nats_stream.publish([{"n": n} for n in range(4)])
    config = source(nats_stream, ack_wait=30)
    with read_stream(config, "events", project_dir=tmp_path) as batches:
        first = next(batches)  # the load failed: the with block ends without ack
    again = list(read_stream(config, "events", project_dir=tmp_path))
    assert ids_of(again) == first.ids
    for batch in again:
        batch.ack()
    assert nats_stream.consumer("headgate_events").num_ack_pending == 0


def test_nack_redelivers_within_the_same_read(nats_stream: NatsStream, tmp_path: Path) -> None:
    nats_stream.publish([{"n": n} for n in range(3)])
    with read_stream(source(nats_stream), "events", project_dir=tmp_path) as batches:
        first = next(batches)
        first.nack()
        second = next(batches)
        second.ack()
    assert second.ids == first.ids
    assert nats_stream.consumer("headgate_events").num_ack_pending == 0


def test_malformed_messages_are_rejected_and_do_not_block_the_stream(
    nats_stream: NatsStream, tmp_path: Path
) -> None:
    nats_stream.publish([{"n": 1}, b"{oops", b'"just text"', b"\xff\xfe", b"", {"n": 2}])
    config = source(nats_stream)
    with read_stream(config, "events", project_dir=tmp_path) as batches:
        loaded = list(batches)
        for batch in loaded:
            batch.ack()
    assert [r["n"] for b in loaded for r in b.table.to_pylist()] == [1, 2]
    rejects = [reject for batch in loaded for reject in batch.rejects]
    assert [(r.message_id, r.raw) for r in rejects] == [
        ("2", "{oops"),
        ("3", '"just text"'),
        ("4", "\\xff\\xfe"),
        ("5", ""),
    ]
    assert rejects[1].reason == "a JSON string, not an object"
    assert rejects[3].reason.startswith("not valid JSON")
    assert list(read_stream(config, "events", project_dir=tmp_path)) == []


def test_limits_and_waiting_for_messages(nats_stream: NatsStream, tmp_path: Path) -> None:
    nats_stream.publish([{"n": n} for n in range(7)])
    config = source(nats_stream, batch_size=3)
    read = read_stream(config, "events", project_dir=tmp_path, max_messages=5, stop_when_idle=False)
    with read as batches:
        sizes = []
        for batch in batches:
            sizes.append(len(batch))
            batch.ack()
    assert sizes == [3, 2]
    rest = list(read_stream(config, "events", project_dir=tmp_path, max_batches=1))
    assert [r["n"] for b in rest for r in b.table.to_pylist()] == [5, 6]
    rest[0].ack()


def test_subject_filter_and_creating_a_missing_stream(nats_url: str, tmp_path: Path) -> None:
    stream = NatsStream(nats_url)  # not created: the reader creates it
    config = source(
        stream,
        create_stream=True,
        tables={"eu": {"stream": stream.name, "subject": f"{stream.prefix}.eu.*"}},
    )
    try:
        assert list(read_stream(config, "eu", project_dir=tmp_path)) == []
        stream.publish([{"n": 1}], subject="eu.orders")
        stream.publish([{"n": 2}], subject="eu.refunds")
        batches = list(read_stream(config, "eu", project_dir=tmp_path))
        assert [r["_subject"] for b in batches for r in b.table.to_pylist()] == [
            f"{stream.prefix}.eu.orders",
            f"{stream.prefix}.eu.refunds",
        ]
        for batch in batches:
            batch.ack()
    finally:
        stream.delete()


def test_a_missing_stream_is_an_error_when_creation_is_off(nats_url: str, tmp_path: Path) -> None:
    stream = NatsStream(nats_url)
    with pytest.raises(SourceError) as caught:
        next(read_stream(source(stream), "events", project_dir=tmp_path, source_name="bus"))
    assert not caught.value.transient
    assert f"NATS at 127.0.0.1:4222 has no stream {stream.name!r}" in caught.value.message
    assert "create_stream: true" in (caught.value.hint or "")


def test_a_durable_consumer_filtering_other_subjects_is_refused(
    nats_stream: NatsStream, tmp_path: Path
) -> None:
    tables = {
        "all": {"stream": nats_stream.name, "durable": "shared"},
        "some": {
            "stream": nats_stream.name,
            "subject": f"{nats_stream.prefix}.a",
            "durable": "shared",
        },
    }
    config = source(nats_stream, tables=tables)
    assert list(read_stream(config, "all", project_dir=tmp_path)) == []
    with pytest.raises(SourceError, match=r"durable consumer 'shared' .* filters 'every subject'"):
        next(read_stream(config, "some", project_dir=tmp_path))


def test_an_existing_consumer_keeps_its_place_and_follows_ack_wait_and_batch_size(
    nats_stream: NatsStream, tmp_path: Path
) -> None:
    nats_stream.publish([{"n": n} for n in range(3)])
    first = list(read_stream(source(nats_stream, ack_wait=30), "events", project_dir=tmp_path))
    first[0].ack()
    assert nats_stream.consumer("headgate_events").config.max_ack_pending == 1000
    nats_stream.publish([{"n": 3}])
    changed = source(nats_stream, ack_wait=5, batch_size=1500)
    later = list(read_stream(changed, "events", project_dir=tmp_path))
    assert [r["n"] for b in later for r in b.table.to_pylist()] == [3]
    later[0].ack()
    consumer = nats_stream.consumer("headgate_events").config
    assert (consumer.ack_wait, consumer.max_ack_pending) == (5, 3000)
