"""Fixtures and helpers of the stream source tests: the loopback NATS and Redis, and a loader.

``nats_url`` and ``redis_url`` follow the rule of ``tests/conftest.py``: an unreachable
server skips the test, unless ``HEADGATE_REQUIRE_SERVICES=1`` turns the skip into a
failure. Each test gets its own stream (``nats_stream``) or key (``redis_key``) with a
random suffix, deleted afterwards. ``tests/sources/conftest.py`` imports the fixtures.

``load_batch`` is the caller's side of the contract, as a DAG task would do it: insert
the rows whose ``_message_id`` the table lacks, in one transaction, then ack.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headgate.engines.base import EngineSession, quote
from headgate.sources.stream_batches import StreamBatch
from tests.conftest import require_service

NATS_DEFAULT = "nats://127.0.0.1:4222"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"


def _run(coroutine: Any) -> Any:
    """Run ``coroutine`` on an event loop of its own thread: the calling thread may already
    run one (a test session that drives a browser keeps a loop on the main thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _quiet(exc: Exception) -> None:
    """nats-py logs connection errors itself unless given a callback."""


async def _nats(url: str) -> Any:
    import nats

    return await nats.connect(
        url,
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.1,
        error_cb=_quiet,
    )


def payload(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


class NatsStream:
    """A JetStream stream of one test: ``name`` holds the subjects ``<prefix>.>``."""

    def __init__(self, url: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.url = url
        self.name = f"HG_TEST_{suffix}"
        self.prefix = f"hgtest.{suffix}"

    def create(self) -> None:
        async def create() -> None:
            nc = await _nats(self.url)
            await nc.jetstream().add_stream(name=self.name, subjects=[f"{self.prefix}.>"])
            await nc.close()

        _run(create())

    def publish(self, values: list[Any], subject: str = "events") -> list[int]:
        """Publish each value (JSON-encoded unless bytes); the stream sequences it got."""

        async def publish() -> list[int]:
            nc = await _nats(self.url)
            js = nc.jetstream()
            acks = [await js.publish(f"{self.prefix}.{subject}", payload(v)) for v in values]
            await nc.close()
            return [ack.seq for ack in acks]

        result: list[int] = _run(publish())
        return result

    def consumer(self, durable: str) -> Any:
        """The durable consumer's info (``num_ack_pending``, ``num_pending``, ``config``)."""

        async def info() -> Any:
            nc = await _nats(self.url)
            found = await nc.jetstream().consumer_info(self.name, durable)
            await nc.close()
            return found

        return _run(info())

    def delete(self, name: str | None = None) -> None:
        async def delete() -> None:
            from nats.js.errors import NotFoundError

            nc = await _nats(self.url)
            with contextlib.suppress(NotFoundError):
                await nc.jetstream().delete_stream(name or self.name)
            await nc.close()

        _run(delete())


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The test NATS server's URL (``HEADGATE_TEST_NATS``), checked to run JetStream."""
    url = os.environ.get("HEADGATE_TEST_NATS", NATS_DEFAULT)

    async def check() -> None:
        nc = await _nats(url)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    try:
        _run(asyncio.wait_for(check(), 10))
    except Exception as exc:
        require_service("NATS with JetStream", url, repr(exc))
    return url


@pytest.fixture
def nats_stream(nats_url: str) -> Iterator[NatsStream]:
    """A fresh stream (subjects ``<prefix>.>``) for one test, deleted with its consumers after."""
    stream = NatsStream(nats_url)
    stream.create()
    yield stream
    stream.delete()


class RedisKey:
    """A stream key of one test, with the client that writes and inspects it."""

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.name = f"hg_test_{uuid.uuid4().hex[:10]}"
        self.client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)

    def add(self, values: list[Any], field: str = "data") -> list[str]:
        """Append one entry per value (``{field: JSON}``; a dict of fields as is when field is '')."""
        ids = []
        for value in values:
            fields = value if not field else {field: payload(value)}
            entry_id = self.client.xadd(self.name, fields)
            ids.append(entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id))
        return ids

    def pending(self, group: str = "headgate") -> int:
        """Entries delivered to the group and not acknowledged."""
        return int(self.client.xpending(self.name, group)["pending"])


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis's URL (``HEADGATE_TEST_REDIS``), checked to be reachable."""
    url = os.environ.get("HEADGATE_TEST_REDIS", REDIS_DEFAULT)
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        require_service("Redis", url, exc)
    return url


@pytest.fixture
def redis_key(redis_url: str) -> Iterator[RedisKey]:
    """A fresh key for one test; the stream (and its groups) is deleted afterwards."""
    key = RedisKey(redis_url)
    yield key
    key.client.delete(key.name)
    key.client.close()


def load_batch(session: EngineSession, target: str, batch: StreamBatch) -> int:
    """Insert the batch's new rows (by ``_message_id``) and its rejects, in one transaction.

    Returns the rows inserted; repeats of rows already loaded are skipped. The caller
    acks after this returns, that is after the commit.
    """
    rows = 0
    with session.transaction():
        for table, data in ((target, batch.table), (f"{target}_rejects", batch.rejects_table())):
            staging = f"{table}_incoming"
            session.create_table_from_arrow(staging, data)
            session.execute(
                f"CREATE TABLE IF NOT EXISTS {quote(table)} AS "
                f"SELECT * FROM {quote(staging)} LIMIT 0"
            )
            inserted = session.execute(
                f"INSERT INTO {quote(table)} BY NAME SELECT * FROM {quote(staging)} AS s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {quote(table)} AS t "
                "WHERE t._message_id = s._message_id)"
            )
            session.execute(f"DROP TABLE {quote(staging)}")
            if table == target:
                rows = int(inserted[0][0])
    return rows


def load_until_killed(arguments: list[str]) -> None:
    """Child process of the crash test: load and ack batches; die by SIGKILL after one commit.

    ``arguments``: source type, source config as JSON, table, project dir, warehouse
    path, the batch after whose commit (and before whose ack) the process kills itself.
    """
    from headgate.engines.duckdb import DuckDBEngine
    from headgate.project.config import DuckDBEngineConfig
    from headgate.sources import SOURCE_CONFIGS
    from headgate.sources.streams import read_stream

    kind, config_json, table, project_dir, warehouse, die_after = arguments
    config: Any = SOURCE_CONFIGS[kind].model_validate(json.loads(config_json))
    engine = DuckDBEngine.open(DuckDBEngineConfig(path=warehouse), Path(project_dir))
    session = engine.session()
    with read_stream(config, table, project_dir=Path(project_dir)) as batches:
        for number, batch in enumerate(batches, 1):
            load_batch(session, "events", batch)
            if number == int(die_after):
                os.kill(os.getpid(), signal.SIGKILL)
            batch.ack()
    engine.close()


if __name__ == "__main__":
    load_until_killed(sys.argv[1:])
