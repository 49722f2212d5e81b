"""Reading Redis Streams in micro-batches through a consumer group, against the real Redis."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from headgate.sources import SourceError
from headgate.sources.streams import RedisStreamSourceConfig, read_stream
from tests.sources.conftest_streams import RedisKey

pytestmark = pytest.mark.services


def source(key: RedisKey, **options: Any) -> RedisStreamSourceConfig:
    settings: dict[str, Any] = {"batch_size": 10, "block_ms": 200, **options}
    table = {"stream": key.name, **settings.pop("table", {})}
    settings.setdefault("tables", {"events": table})
    return RedisStreamSourceConfig.model_validate(
        {"type": "redis_stream", "url": key.url, **settings}
    )


def ids_of(batches: list[Any]) -> list[str]:
    return [i for batch in batches for i in batch.ids]


def rows_of(batches: list[Any], column: str) -> list[Any]:
    return [row[column] for batch in batches for row in batch.table.to_pylist()]


def test_batches_carry_records_and_acked_entries_never_come_back(
    redis_key: RedisKey, tmp_path: Path
) -> None:
    entry_ids = redis_key.add(
        [{"id": i, "price": i / 2, "tags": ["x"] * (i % 2)} for i in range(25)]
    )
    config = source(redis_key)
    sizes = []
    with read_stream(config, "events", project_dir=tmp_path, source_name="clicks") as batches:
        for batch in batches:
            sizes.append(len(batch))
            batch.ack()
            assert batch.table.column("_stream").to_pylist() == [redis_key.name] * len(batch)
            if len(sizes) == 1:
                assert batch.ids == entry_ids[:10]
                assert batch.table.column("tags").to_pylist()[:2] == ["[]", '["x"]']
    assert sizes == [10, 10, 5]
    assert redis_key.pending() == 0
    assert list(read_stream(config, "events", project_dir=tmp_path)) == []


def test_the_same_consumer_name_resumes_what_its_crashed_reader_left(
    redis_key: RedisKey, tmp_path: Path
) -> None:
    redis_key.add([{"n": n} for n in range(15)])
    config = source(redis_key)
    crashed = read_stream(config, "events", project_dir=tmp_path)
    lost = next(crashed)  # never acknowledged: the process died after reading
    assert redis_key.pending() == 10
    with read_stream(config, "events", project_dir=tmp_path) as batches:
        resumed = list(batches)
        for batch in resumed:
            batch.ack()
    # first the entries the crashed reader held, with the same ids, then the rest
    assert ids_of(resumed)[:10] == lost.ids
    assert rows_of(resumed, "n") == list(range(15))
    assert redis_key.pending() == 0
    crashed.close()


def test_another_consumer_claims_entries_left_pending_too_long(
    redis_key: RedisKey, tmp_path: Path
) -> None:
    redis_key.add([{"n": n} for n in range(4)])
    crashed = read_stream(source(redis_key, consumer="pod-1"), "events", project_dir=tmp_path)
    lost = next(crashed)
    fetched = time.monotonic()  # the entries were delivered to pod-1 before this
    # idle for 2 s: wide enough that the read below ends sooner on a busy machine
    successor = source(redis_key, consumer="pod-2", claim_idle_ms=2000)
    # not idle long enough yet: pod-1 may still be loading them
    assert list(read_stream(successor, "events", project_dir=tmp_path)) == []
    time.sleep(max(0.0, 2.1 - (time.monotonic() - fetched)))
    with read_stream(successor, "events", project_dir=tmp_path) as batches:
        claimed = list(batches)
        for batch in claimed:
            batch.ack()
    assert ids_of(claimed) == lost.ids
    assert redis_key.pending() == 0
    crashed.close()
    assert list(read_stream(successor, "events", project_dir=tmp_path)) == []


def test_nack_reads_the_entries_again_within_the_read(redis_key: RedisKey, tmp_path: Path) -> None:
    redis_key.add([{"n": n} for n in range(3)])
    with read_stream(source(redis_key), "events", project_dir=tmp_path) as batches:
        first = next(batches)
        first.nack()
        second = next(batches)
        second.ack()
    assert second.ids == first.ids
    assert redis_key.pending() == 0


def test_malformed_entries_are_rejected_and_do_not_block_the_stream(
    redis_key: RedisKey, tmp_path: Path
) -> None:
    good = redis_key.add([{"n": 1}])
    broken = redis_key.add([b"{oops", b"[1]", b"\xff"])
    no_field = redis_key.add([{"other": "x"}], field="")
    trimmed = redis_key.add([{"n": 99}])
    last = redis_key.add([{"n": 2}])
    config = source(redis_key)
    crashed = read_stream(config, "events", project_dir=tmp_path)
    held = next(crashed)  # everything delivered once, then the reader dies
    assert len(held) == 7
    redis_key.client.xdel(redis_key.name, trimmed[0])  # trimmed while pending
    with read_stream(config, "events", project_dir=tmp_path) as batches:
        loaded = list(batches)
        for batch in loaded:
            batch.ack()
    assert rows_of(loaded, "n") == [1, 2]
    assert ids_of(loaded) == good + last
    reasons = {r.message_id: r.reason for b in loaded for r in b.rejects}
    assert reasons[broken[0]].startswith("not valid JSON")
    assert reasons[broken[1]] == "a JSON array, not an object"
    assert reasons[broken[2]] == "not UTF-8 text"
    assert reasons[no_field[0]] == "the entry has no field 'data' (its fields: other)"
    assert reasons[trimmed[0]] == "the entry was deleted from the stream before it was read"
    raw = {r.message_id: r.raw for b in loaded for r in b.rejects}
    assert raw[no_field[0]] == '{"other": "x"}'
    assert redis_key.pending() == 0
    crashed.close()


def test_entry_fields_as_the_record(redis_key: RedisKey, tmp_path: Path) -> None:
    redis_key.add([{"user": "zoë", "clicks": "3"}, {"user": "ann", "page": "/"}], field="")
    config = source(redis_key, table={"payload_field": None})
    batches = list(read_stream(config, "events", project_dir=tmp_path))
    table = batches[0].table
    assert table.column_names == [
        "_message_id",
        "_stream",
        "_received_at",
        "user",
        "clicks",
        "page",
    ]
    assert table.select(["user", "clicks", "page"]).to_pylist() == [
        {"user": "zoë", "clicks": "3", "page": None},
        {"user": "ann", "clicks": None, "page": "/"},
    ]
    batches[0].ack()


def test_a_new_group_reads_from_the_start_and_limits_apply(
    redis_key: RedisKey, tmp_path: Path
) -> None:
    redis_key.add([{"n": n} for n in range(7)])  # before the group exists
    config = source(redis_key, group="late_group", batch_size=3)
    read = read_stream(config, "events", project_dir=tmp_path, max_messages=5, stop_when_idle=False)
    with read as batches:
        sizes = []
        for batch in batches:
            sizes.append(len(batch))
            batch.ack()
    assert sizes == [3, 2]
    rest = list(read_stream(config, "events", project_dir=tmp_path))
    assert rows_of(rest, "n") == [5, 6]
    rest[0].ack()
    assert redis_key.pending("late_group") == 0


def test_missing_stream_missing_group_and_wrong_type_are_named(
    redis_key: RedisKey, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match=f"no stream '{redis_key.name}' on Redis at 127.0.0.1"):
        next(read_stream(source(redis_key), "events", project_dir=tmp_path))
    created = source(redis_key, create_stream=True)
    assert list(read_stream(created, "events", project_dir=tmp_path)) == []
    assert redis_key.client.type(redis_key.name) == b"stream"
    with pytest.raises(SourceError, match="has no consumer group 'other'") as caught:
        next(
            read_stream(
                source(redis_key, group="other", create_group=False), "events", project_dir=tmp_path
            )
        )
    assert not caught.value.transient
    assert "XGROUP CREATE" in (caught.value.hint or "")
    redis_key.client.delete(redis_key.name)
    redis_key.client.set(redis_key.name, "a string")
    with pytest.raises(SourceError, match="holds a string, not a stream"):
        next(read_stream(source(redis_key), "events", project_dir=tmp_path))
