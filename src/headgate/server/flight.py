"""Arrow Flight beside the HTTP API: large query results as Arrow record batches over gRPC.

``headgate serve --flight-port 8815`` starts it in the hub's process. A ``DoGet`` ticket
holds the query: JSON ``{"sql": ..., "environment": ..., "limit": ..., "timeout": ...}``
or the SQL text alone (the default environment, no row limit). It is read as POST
/api/v1/query reads it (``server/api/queries.py`` ``started``: a cursor of its own, model
names rewritten to the environment's views, the row limit and the timeout), and signed
in as the API is: ``authorization: Bearer <token>`` as a call header, with ``data:query``
in the environment read. ``GetFlightInfo`` takes the same bytes as a descriptor's
command and answers the result's schema and the ticket that reads it.

Errors reach the client as Flight errors with the hub's own text: no token or an
unknown one is unauthenticated, a right not held unauthorized, a query's mistake a
server error saying what is wrong; never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as flight
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from headgate.errors import HeadgateError
from headgate.security import tokens
from headgate.security.principal import Principal, Refused, acting_as, demand
from headgate.security.roles import Permission
from headgate.server.api.environments import ENV_PATTERN
from headgate.server.api.queries import DEFAULT_TIMEOUT, MAX_ROWS, READ_AHEAD, started
from headgate.server.warehouse import QueryTimeout

if TYPE_CHECKING:
    from headgate.server.hub import Hub

log = logging.getLogger("headgate.flight")

HEADERS = "headers"  # the middleware's key: the call's headers, and what to stop after it
STOP_WAIT = 10.0  # seconds the hub waits for Flight calls still sending when it stops


class FlightQuery(BaseModel):
    """What a ticket (or a descriptor's command) asks for."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000)
    environment: str | None = Field(None, max_length=100, pattern=ENV_PATTERN)
    limit: int | None = Field(None, ge=0, le=MAX_ROWS)
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0, le=600)

    def ticket(self) -> bytes:
        return self.model_dump_json(exclude_defaults=True).encode()


def read_query(raw: bytes) -> FlightQuery:
    """A ticket's query: a JSON object with ``sql``, or the SQL text alone."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise HeadgateError("the ticket is not UTF-8 text", hint=_TICKET_HINT) from None
    try:
        if text.lstrip().startswith("{"):
            return FlightQuery.model_validate(json.loads(text))
        return FlightQuery.model_validate({"sql": text})
    except json.JSONDecodeError as exc:
        raise HeadgateError(f"the ticket is not valid JSON: {exc}", hint=_TICKET_HINT) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'ticket'}: {e['msg']}" for e in exc.errors()
        )
        raise HeadgateError(f"the ticket is not a query: {problems}", hint=_TICKET_HINT) from None


_TICKET_HINT = (
    'give the SQL text, or JSON {"sql": "...", "environment": "prod", "limit": 1000, "timeout": 30}'
)


class CallHeaders(flight.ServerMiddleware):
    """One call's headers, and the query it started (stopped when the call ends)."""

    def __init__(self, headers: dict[str, list[Any]]) -> None:
        self.headers = headers
        self.handle: Any = None

    def call_completed(self, exception: BaseException | None) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:  # a client gone mid-stream: its query stops
            with contextlib.suppress(Exception):
                handle.close()


class CallHeadersFactory(flight.ServerMiddlewareFactory):
    def start_call(self, info: Any, headers: dict[str, list[Any]]) -> CallHeaders:
        return CallHeaders(headers)


class HubFlightServer(flight.FlightServerBase):
    """The hub's Flight service: reads only."""

    def __init__(self, hub: Hub, location: str) -> None:
        super().__init__(location, middleware={HEADERS: CallHeadersFactory()})
        self.hub = hub

    # --- calls ----------------------------------------------------------------------------

    def do_get(self, context: Any, ticket: flight.Ticket) -> flight.FlightDataStream:
        with _said_clearly():
            query = read_query(ticket.ticket)
            principal = self._signed_in(context)
            counts = self.hub.query_counts
            with acting_as(principal), counts.request("flight"):
                self._allowed(query)
                schema, batches, handle = started(
                    self.hub,
                    query.sql,
                    query.environment,
                    query.limit,
                    timeout=query.timeout,
                    ahead=READ_AHEAD,
                )
            context.get_middleware(HEADERS).handle = handle
            counted = counts.batches("flight", batches)
            return flight.GeneratorStream(schema, _batches_said_clearly(counted))

    def get_flight_info(self, context: Any, descriptor: flight.FlightDescriptor) -> Any:
        with _said_clearly():
            if descriptor.descriptor_type != flight.DescriptorType.CMD:
                raise HeadgateError(
                    "a descriptor here is a command holding the query",
                    hint=_TICKET_HINT + " as FlightDescriptor.for_command(...)",
                )
            query = read_query(descriptor.command)
            principal = self._signed_in(context)
            with acting_as(principal):
                self._allowed(query)
                schema = self._schema(query)
            endpoint = flight.FlightEndpoint(query.ticket(), [])
            return flight.FlightInfo(schema, descriptor, [endpoint], -1, -1)

    def get_schema(self, context: Any, descriptor: flight.FlightDescriptor) -> Any:
        info = self.get_flight_info(context, descriptor)
        return flight.SchemaResult(info.schema)

    def list_flights(self, context: Any, criteria: bytes) -> Iterator[flight.FlightInfo]:
        with _said_clearly():
            self._signed_in(context)
        return iter(())  # a query is asked for by its SQL: there is no fixed list to give

    # --- who is asking ----------------------------------------------------------------------

    def _signed_in(self, context: Any) -> Principal:
        """The principal of the call's ``authorization: Bearer`` header, as the API finds it."""
        headers: dict[str, list[Any]] = context.get_middleware(HEADERS).headers
        values = headers.get("authorization") or []
        if not values:
            raise flight.FlightUnauthenticatedError(
                "sign in first: no token (send the header authorization: Bearer <token>)"
            )
        value = values[0].decode() if isinstance(values[0], bytes) else str(values[0])
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise flight.FlightUnauthenticatedError(
                "sign in first: the authorization header is not 'Bearer <token>'"
            )
        found = tokens.authenticate(self.hub.project.accounts, token, address=_address(context))
        if found is None:
            raise flight.FlightUnauthenticatedError(
                "sign in first: the token is unknown, revoked or expired"
            )
        return found

    def _allowed(self, query: FlightQuery) -> None:
        """``data:query`` in the environment read, as POST /api/v1/query asks."""
        demand(Permission.DATA_QUERY, self.hub.project._environment(query.environment))

    def _schema(self, query: FlightQuery) -> pa.Schema:
        schema, batches, handle = started(
            self.hub, query.sql, query.environment, 0, timeout=query.timeout, ahead=0
        )
        for _ in batches:  # the limit of 0 reads no row: this ends the query
            pass
        if handle is not None:
            handle.close()
        return schema


def _address(context: Any) -> str | None:
    """The client's address from gRPC's peer (``ipv4:127.0.0.1:5123``, ``ipv6:[::1]:5123``)."""
    peer = context.peer()
    peer = peer.decode() if isinstance(peer, bytes) else str(peer or "")
    _, _, rest = peer.partition(":")
    host = rest.rpartition(":")[0] if rest.count(":") >= 1 else rest
    return host.strip("[]") or None


@contextlib.contextmanager
def _said_clearly() -> Iterator[None]:
    """The hub's errors as Flight errors carrying their text (never a traceback)."""
    try:
        yield
    except flight.FlightError:
        raise
    except Refused as exc:
        raise flight.FlightUnauthorizedError(exc.render()) from None
    except QueryTimeout as exc:
        raise flight.FlightTimedOutError(exc.render()) from None
    except HeadgateError as exc:
        raise flight.FlightServerError(exc.render()) from None
    except Exception as exc:
        log.exception("a Flight call failed")
        raise flight.FlightInternalError(
            f"the hub failed to answer ({type(exc).__name__}); its log says more"
        ) from None


def _batches_said_clearly(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches; an error on the way ends the stream as an error, with its text."""
    with _said_clearly():
        yield from batches


class RunningFlight:
    """A Flight server serving in a thread of its own until ``stop``."""

    def __init__(self, hub: Hub, host: str, port: int) -> None:
        where = f"[{host}]" if ":" in host else host
        try:
            self.server = HubFlightServer(hub, f"grpc://{where}:{port}")
        except (pa.ArrowException, OSError):  # gRPC says why on stderr, Arrow only that it failed
            raise HeadgateError(
                f"cannot serve Arrow Flight on {host}:{port}: the port is taken, or {host} "
                "is not an address of this machine",
                hint="choose another --flight-port, or stop what listens there",
            ) from None
        self.host = host
        self.port: int = self.server.port
        self._thread = threading.Thread(target=self.server.serve, name="hub-flight", daemon=True)
        self._thread.start()

    @property
    def location(self) -> str:
        where = f"[{self.host}]" if ":" in self.host else self.host
        return f"grpc://{where}:{self.port}"

    def stop(self) -> None:
        """Stop taking calls; calls still sending get ``STOP_WAIT`` seconds to end."""
        stopper = threading.Thread(target=self.server.shutdown, name="hub-flight-stop", daemon=True)
        stopper.start()
        stopper.join(STOP_WAIT)
        self._thread.join(STOP_WAIT)
