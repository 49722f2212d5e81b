"""A run's JSON, written out field by field for speed, is exactly the generic one."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from headgate.server.api.common import jsonable, run_json, task_json
from headgate.state.records import RunRecord, TaskRecord

pytestmark = pytest.mark.fast


def a_run() -> RunRecord:
    began = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    tasks = [
        TaskRecord(
            7,
            "staging.orders",
            "model",
            "built",
            "f1",
            "hp.orders",
            42,
            began,
            began,
            1.25,
            None,
            {"intervals": [[began, began]], "parts": (1, 2)},
            {"sql": "select 1"},
            2,
        ),
        TaskRecord(7, "shop.orders", "source", "failed", "f0", seconds=float("nan"), error="x"),
        TaskRecord(7, "marts.revenue", "model", "pending", "f2"),
    ]
    return RunRecord(
        7,
        "prod",
        "failed",
        began,
        began,
        "run",
        "staging+",
        "alice",
        "host",
        12,
        "abc",
        "boom",
        True,
        tasks,
        {"built": 1, "failed": 1, "pending": 1},
    )


def test_a_run_and_its_tasks_as_json_are_the_generic_conversion() -> None:
    run = a_run()
    assert run_json(run) == jsonable(run)
    assert [task_json(t) for t in run.tasks] == jsonable(run.tasks)
    assert run_json(run)["tasks"][1]["seconds"] is None  # not a NaN no JSON reader takes
    json.dumps(run_json(run), allow_nan=False)
