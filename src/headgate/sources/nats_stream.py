"""NATS JetStream: a durable pull consumer per table, fetched in batches, acked after the load.

The consumer is durable (named ``headgate_<table>`` unless the table names one) with
explicit acks: a message not acknowledged within ``ack_wait`` seconds is delivered
again, to whichever reader fetches next, so a reader that crashed between fetch and
ack loses nothing. ``_message_id`` is the message's stream sequence, the same on every
delivery. A new consumer starts at the stream's first message; an existing one keeps
its place, and only its ``ack_wait`` and its room for unacknowledged messages (two
batches' worth, at least 1000) follow the source file.

nats-py is asyncio-only while readers are plain iterators (a DAG task calls them from a
worker thread): each connection runs its own event loop on a private daemon thread and
every call waits for its coroutine with a deadline, so a stuck server turns into an
error instead of a hang.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from headgate.sources.errors import SourceError, SourceUnavailable
from headgate.sources.stream_batches import RawMessage, StreamConnection

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

    from headgate.sources.secrets import Secrets
    from headgate.sources.streams import NatsSourceConfig, NatsTableConfig

T = TypeVar("T")

# seconds added to a call's own timeout before the caller stops waiting for the loop
_GRACE = 10.0


class _LoopThread:
    """An asyncio event loop on its own daemon thread, for calls from any other thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="headgate-nats", daemon=True
        )
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if threading.current_thread() is self.thread:
            self.loop.stop()  # closing from a callback on the loop itself: cannot wait
            return
        # tasks that will not finish die with the daemon thread
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            self.run(cancel_all(), 5.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        if not self.thread.is_alive():
            self.loop.close()


def nats_connector(
    config: NatsSourceConfig, table_name: str, secrets: Secrets, label: str
) -> Callable[[], NatsConnection]:
    """Resolve the servers now (a missing secret fails here); connect when called."""
    entry = config.tables[table_name]
    servers = [secrets.resolve(server) for server in config.server_list()]
    for server in servers:
        try:
            parts = urlsplit(server if "://" in server else f"nats://{server}")
        except ValueError:
            raise SourceError(
                secrets.mask(f"{label}: {server!r} is not a server URL"),
                hint="write nats://host:4222 (tls:// for TLS)",
            ) from None
        if parts.password:
            secrets.remember(parts.password)
        elif parts.username:
            secrets.remember(parts.username)  # nats://TOKEN@host: the user part is a token
    durable = entry.durable or f"headgate_{table_name}"
    return lambda: NatsConnection.open(config, entry, durable, servers, secrets, label)


class NatsConnection(StreamConnection):
    origin_column = "_subject"

    def __init__(
        self,
        runner: _LoopThread,
        client: Client,
        subscription: JetStreamContext.PullSubscription,
        config: NatsSourceConfig,
        secrets: Secrets,
        label: str,
        where: str,
    ) -> None:
        self._runner = runner
        self._client = client
        self._subscription = subscription
        self._config = config
        self._secrets = secrets
        self._label = label
        self._where = where

    @classmethod
    def open(
        cls,
        config: NatsSourceConfig,
        entry: NatsTableConfig,
        durable: str,
        servers: list[str],
        secrets: Secrets,
        label: str,
    ) -> NatsConnection:
        where = "NATS at " + secrets.mask(", ".join(_host(server) for server in servers))
        runner = _LoopThread()
        client: Client | None = None
        try:
            client = runner.run(
                _connect(servers, config.connect_timeout),
                config.connect_timeout * (2 * len(servers) + 1) + _GRACE,
            )
            subscription = runner.run(
                _bind(client, config, entry, durable, secrets, label, where),
                config.connect_timeout * 4 + _GRACE,
            )
        except BaseException as exc:
            if client is not None:
                _close_quietly(runner, client)
            runner.stop()
            if isinstance(exc, SourceError):
                raise
            raise _failure(exc, secrets, label, f"connecting to {where}") from None
        return cls(runner, client, subscription, config, secrets, label, where)

    def fetch(self, limit: int) -> list[RawMessage]:
        async def fetch() -> list[Any]:
            try:
                return await self._subscription.fetch(batch=limit, timeout=self._config.max_wait)
            except TimeoutError:  # nats-py raises its own subclass, or asyncio's, when idle
                return []

        try:
            messages = self._runner.run(fetch(), self._config.max_wait + _GRACE)
        except Exception as exc:
            raise _failure(
                exc, self._secrets, self._label, f"fetching from {self._where}"
            ) from None
        return [
            RawMessage(str(m.metadata.sequence.stream), m.subject, bytes(m.data), m)
            for m in messages
        ]

    def ack(self, messages: list[RawMessage]) -> None:
        self._settle(messages, nack=False)

    def nack(self, messages: list[RawMessage]) -> None:
        self._settle(messages, nack=True)

    def _settle(self, messages: list[RawMessage], *, nack: bool) -> None:
        import nats.errors

        async def settle() -> None:
            for message in messages:
                with contextlib.suppress(nats.errors.MsgAlreadyAckdError):  # listed twice
                    await (message.handle.nak() if nack else message.handle.ack())
            await self._client.flush(timeout=self._config.connect_timeout)

        try:
            self._runner.run(settle(), self._config.connect_timeout + _GRACE)
        except Exception as exc:
            doing = "handing back" if nack else "acknowledging"
            raise _failure(
                exc,
                self._secrets,
                self._label,
                f"{doing} {len(messages)} message(s) on {self._where}",
                note="they will be delivered again after ack_wait; _message_id identifies them",
            ) from None

    def close(self) -> None:
        _close_quietly(self._runner, self._client)
        self._runner.stop()


async def _connect(servers: list[str], connect_timeout: int) -> Client:
    import nats

    async def quiet(exc: Exception) -> None:
        """Connection errors surface as exceptions of the calls: no log lines of their own."""

    # max_reconnect_attempts=1 with allow_reconnect=False: each server is tried twice,
    # 0.1 s apart, then NoServersError (0 would retry forever)
    return await nats.connect(
        servers=servers,
        connect_timeout=connect_timeout,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.1,
        error_cb=quiet,
        name="headgate",
    )


async def _bind(
    client: Client,
    config: NatsSourceConfig,
    entry: NatsTableConfig,
    durable: str,
    secrets: Secrets,
    label: str,
    where: str,
) -> JetStreamContext.PullSubscription:
    """Make sure the stream and the durable consumer exist as configured, and subscribe to it."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import NotFoundError

    js = client.jetstream(timeout=float(config.connect_timeout))
    stream = entry.stream
    try:
        await js.stream_info(stream)
    except NotFoundError:
        if not config.create_stream:
            raise SourceError(
                f"{label}: {where} has no stream {stream!r}",
                hint="check the stream name, create the stream (nats stream add), or set "
                "create_stream: true in the source",
            ) from None
        await js.add_stream(name=stream, subjects=[entry.subject or ""])
    try:
        existing = await js.consumer_info(stream, durable)
    except NotFoundError:
        existing = None
    if existing is None:
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=config.ack_wait,
                max_deliver=-1,
                max_ack_pending=_max_ack_pending(config),
                filter_subject=entry.subject,
            ),
        )
    else:
        current = existing.config
        if (current.filter_subject or None) != entry.subject:
            raise SourceError(
                f"{label}: durable consumer {durable!r} of stream {stream!r} filters "
                f"{current.filter_subject or 'every subject'!r}, the table reads "
                f"{entry.subject or 'every subject'!r}",
                hint="give the table its own consumer (durable: ...), or delete the old one",
            )
        if current.ack_policy != AckPolicy.EXPLICIT or current.deliver_subject:
            raise SourceError(
                f"{label}: consumer {durable!r} of stream {stream!r} is not a pull consumer "
                "with explicit acks, which headgate needs to ack after the load",
                hint="give the table its own consumer name (durable: ...)",
            )
        updates: dict[str, Any] = {}
        if current.ack_wait != config.ack_wait:
            updates["ack_wait"] = config.ack_wait
        if 0 < (current.max_ack_pending or 0) < config.batch_size:
            updates["max_ack_pending"] = _max_ack_pending(config)
        if updates:
            await js.add_consumer(stream, current.evolve(**updates))
    return await js.pull_subscribe_bind(durable=durable, stream=stream)


def _max_ack_pending(config: NatsSourceConfig) -> int:
    """Room for two batches in flight: the server sends no more unacked messages than this."""
    return max(1000, 2 * config.batch_size)


def _host(server: str) -> str:
    """``host:port`` of a server URL, for messages: the URL's credentials stay out."""
    try:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        return f"{parts.hostname or '?'}:{parts.port or 4222}"
    except ValueError:
        return "an unparsable server URL"


def _close_quietly(runner: _LoopThread, client: Client) -> None:
    # the connection is being abandoned: unacked messages come back after ack_wait
    with contextlib.suppress(Exception):
        runner.run(client.close(), 5.0)


def _failure(
    exc: BaseException, secrets: Secrets, label: str, doing: str, note: str = ""
) -> SourceError:
    """A SourceError for a nats-py (or timeout) error: unreachable and overloaded are transient."""
    import nats.errors
    import nats.js.errors

    text = " ".join(str(exc).split()) or type(exc).__name__
    transient = isinstance(
        exc,
        nats.errors.NoServersError
        | nats.errors.ConnectionClosedError
        | nats.errors.TimeoutError
        | nats.errors.StaleConnectionError
        | nats.errors.OutboundBufferLimitError
        | nats.js.errors.ServiceUnavailableError
        | concurrent.futures.TimeoutError
        | asyncio.TimeoutError
        | OSError,
    )
    hint = None
    if isinstance(exc, nats.errors.NoServersError):
        text = "no server answered"
        hint = "check that nats-server runs (with -js for JetStream) and the servers URL"
    elif isinstance(exc, nats.errors.NoRespondersError):
        text = "JetStream does not answer"
        hint = "JetStream is not enabled on the server: start nats-server with -js"
    elif isinstance(exc, nats.js.errors.APIError) and exc.description:
        text = exc.description
    elif isinstance(exc, concurrent.futures.TimeoutError | asyncio.TimeoutError):
        text = "no answer in time"
    message = f"{label}: {doing} failed: {text}" + (f" ({note})" if note else "")
    kind = SourceUnavailable if transient else SourceError
    return kind(secrets.mask(message), hint=hint)
