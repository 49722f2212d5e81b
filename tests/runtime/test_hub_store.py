"""The store as an agent reaches it through the hub: typed records on the wire, lazy records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from headgate.errors import HeadgateError
from headgate.runtime.hub_store import (
    READS,
    WRITES,
    HubStore,
    PhysicalRegistry,
    decode,
    decode_call,
    encode,
)
from headgate.state.records import ModelVersion, PhysicalRecord, TaskRecord


def through_json(value: Any) -> Any:
    return decode(json.loads(json.dumps(encode(value))))


def test_records_datetimes_and_metric_batches_cross_the_wire_as_they_were() -> None:
    stamp = datetime(2026, 12, 3, 22, 30, tzinfo=UTC)
    task = TaskRecord(7, "marts.total", "model", "built", "ab12", started_at=stamp)
    task.detail = {"ranges": [["2026-01-01", "2026-01-02"]], "$dt": "not a tag here"}
    version = ModelVersion("ab12", "marts.total", "select 1", [["x", "INTEGER"]])
    physical = PhysicalRecord("hp.t", "marts.total", "ab12", "table", rows=3, inputs={"hp.u": 1})
    metrics = [(7, "marts.total", "hp.t", {"row_count": 3.0})]
    assert through_json([task, version, physical]) == [task, version, physical]
    assert through_json(metrics) == [[7, "marts.total", "hp.t", {"row_count": 3.0}]]
    assert through_json({("a", 1): stamp}) == {("a", 1): stamp}


def test_only_whitelisted_methods_and_known_records_are_taken() -> None:
    with pytest.raises(HeadgateError, match="'drop_physical' cannot be called"):
        decode_call("drop_physical", [["x"]], WRITES)
    with pytest.raises(HeadgateError, match="'stored_secrets' cannot be called"):
        decode_call("stored_secrets", [], READS)
    with pytest.raises(HeadgateError, match="not a record"):
        decode({"$record": "StoredSecret", "fields": {}})
    with pytest.raises(HeadgateError, match="cannot send a object"):
        encode(object())
    store = HubStore(lambda method, args: None, lambda writes: None)
    with pytest.raises(HeadgateError, match="'acquire_lock'"):
        store.acquire_lock("environment:prod")


def test_writes_wait_for_the_result_unless_they_must_go_at_once() -> None:
    sent: list[list[Any]] = []
    store = HubStore(lambda method, args: None, sent.append)
    record = PhysicalRecord("hp.t", "m", "f", "table")
    store.batched().register_physical([record])
    store.batched().record_tasks([TaskRecord(1, "m", "model", "running", "f")])
    assert sent == [] and len(store.take_pending()) == 2
    store.batched().record_tasks([TaskRecord(1, "m", "model", "built", "f")])
    store.register_physical([record])  # at once, after what waited
    assert [method for method, _ in sent[0]] == ["record_tasks", "register_physical"]
    assert store.take_pending() == []


def test_the_registry_fetches_a_name_once_and_knows_the_names_asked_already() -> None:
    asked: list[list[str]] = []
    known = PhysicalRecord("hp.later", "m", "f", "table")

    def fetch(names: list[str]) -> dict[str, PhysicalRecord]:
        asked.append(names)
        return {n: known for n in names if n == "hp.later"}

    held = {"hp.own": PhysicalRecord("hp.own", "m", "f", "table")}
    registry = PhysicalRegistry(held, fetch, absent=["hp.own", "hp.new"])
    assert registry.get("hp.own") is held["hp.own"] and "hp.new" not in registry
    assert registry.get("hp.later") is known and registry.get("hp.later") is known
    assert registry.get("hp.gone") is None and "hp.gone" not in registry
    assert asked == [["hp.later"], ["hp.gone"]]
    registry["hp.new"] = known
    assert registry["hp.new"] is known
