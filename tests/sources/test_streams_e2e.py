"""Exactly once into DuckDB: a loader killed between commit and ack, and one that rolls back.

A child process loads batches into a DuckDB file (new ``_message_id`` s only, one
transaction per batch), acks the first batch, and kills itself with SIGKILL after
committing the second batch but before acking it. A new reader then gets the second
batch again, and the rest; the id check drops the repeats, so the table ends with each
message exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from headgate.engines.duckdb import DuckDBEngine
from headgate.project.config import DuckDBEngineConfig
from headgate.sources.streams import (
    NatsSourceConfig,
    RedisStreamSourceConfig,
    StreamSourceConfig,
    read_stream,
)
from tests.sources.conftest_streams import NatsStream, RedisKey, load_batch

pytestmark = [pytest.mark.services, pytest.mark.slow]

REPOSITORY = Path(__file__).resolve().parents[2]
MESSAGES = 30


def publish(backend: str, request: pytest.FixtureRequest) -> StreamSourceConfig:
    """Publish the messages (plus one that is not JSON) and return the source that reads them."""
    values: list[Any] = [{"order": n, "amount": n * 2.5} for n in range(MESSAGES)]
    values.insert(17, b"<not json>")
    if backend == "nats":
        stream: NatsStream = request.getfixturevalue("nats_stream")
        stream.publish(values)
        return NatsSourceConfig.model_validate(
            {
                "type": "nats",
                "servers": stream.url,
                "batch_size": 8,
                "max_wait": 0.3,
                "ack_wait": 1,
                "tables": {"events": {"stream": stream.name}},
            }
        )
    key: RedisKey = request.getfixturevalue("redis_key")
    key.add(values)
    return RedisStreamSourceConfig.model_validate(
        {
            "type": "redis_stream",
            "url": key.url,
            "batch_size": 8,
            "block_ms": 200,
            "tables": {"events": {"stream": key.name}},
        }
    )


@pytest.mark.parametrize("backend", ["nats", "redis"])
def test_a_loader_killed_between_commit_and_ack_loads_each_message_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = publish(backend, request)
    warehouse = tmp_path / "warehouse.duckdb"
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.sources.conftest_streams",
            config.type,
            config.model_dump_json(),
            "events",
            str(tmp_path),
            str(warehouse),
            "2",
        ],
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr

    engine = DuckDBEngine.open(DuckDBEngineConfig(path=str(warehouse)), tmp_path)
    session = engine.session()
    try:
        # the child committed two batches of 8 rows (the reject comes in the third)
        assert session.execute("SELECT count(*) FROM events")[0][0] == 16
        if backend == "nats":
            time.sleep(1.2)  # the dead loader's messages come back after ack_wait
        inserted: list[int] = []
        repeated = 0
        with read_stream(config, "events", project_dir=tmp_path) as batches:
            for batch in batches:
                inserted.append(load_batch(session, "events", batch))
                repeated += len(batch.ids) - inserted[-1]
                batch.ack()
        assert repeated == 8  # the second batch, delivered again and skipped by id
        assert sum(inserted) == MESSAGES - 16
        rows = session.execute(
            'SELECT count(*), count(DISTINCT _message_id), count(DISTINCT "order"), '
            'min("order"), max("order") FROM events'
        )
        assert rows == [(MESSAGES, MESSAGES, MESSAGES, 0, MESSAGES - 1)]
        assert session.execute("SELECT raw, reason FROM events_rejects") == [
            ("<not json>", "not valid JSON: Expecting value: line 1 column 1 (char 0)")
        ]
    finally:
        engine.close()
    assert list(read_stream(config, "events", project_dir=tmp_path)) == []


@pytest.mark.parametrize("backend", ["nats", "redis"])
def test_a_load_that_rolls_back_leaves_the_batch_to_the_next_try(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = publish(backend, request)
    engine = DuckDBEngine.open(DuckDBEngineConfig(path=str(tmp_path / "w.duckdb")), tmp_path)
    session = engine.session()
    try:
        with read_stream(config, "events", project_dir=tmp_path, max_batches=1) as batches:
            batch = next(batches)
            with pytest.raises(RuntimeError, match="disk full"), session.transaction():
                session.create_table_from_arrow("events", batch.table)
                raise RuntimeError("disk full")  # the warehouse failed before the commit
            batch.nack()
        assert session.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'"
        ) == [(0,)]
        with read_stream(config, "events", project_dir=tmp_path) as batches:
            for batch in batches:
                load_batch(session, "events", batch)
                batch.ack()
        assert session.execute("SELECT count(*), count(DISTINCT _message_id) FROM events") == [
            (MESSAGES, MESSAGES)
        ]
    finally:
        engine.close()
