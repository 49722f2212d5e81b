"""Arrow Flight from the hub: query results as record batches over gRPC, signed in and
allowed as POST /api/v1/query is, against a real hub on free loopback ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import httpx
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from tests.server.hubs import make_project, serving

pytestmark = pytest.mark.fast

DEV_VIEWER = "vera"
LARGE = "select range as id, range * 2 as doubled, 'row ' || range as label from range(600000)"


@dataclass
class FlightHub:
    url: str  # the HTTP API's
    location: str  # Flight's: grpc://127.0.0.1:PORT
    admin: str  # the administrator's token
    dev_viewer: str  # a token of a viewer of dev only

    def client(self) -> flight.FlightClient:
        return flight.connect(self.location)

    def options(self, token: str | None = None) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {token or self.admin}".encode())]
        )

    def get(self, ticket: str | dict[str, object], token: str | None = None) -> pa.Table:
        raw = ticket if isinstance(ticket, str) else json.dumps(ticket)
        with self.client() as client:
            return client.do_get(flight.Ticket(raw.encode()), self.options(token)).read_all()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlightHub]:
    from headgate.facade import Project

    root = make_project(tmp_path_factory.mktemp("flight") / "shop")
    with Project.load(root) as project:
        project.env_create("dev")
        project.add_user(
            DEV_VIEWER, "a long pass phrase for the dev viewer", roles=[("viewer", "dev")]
        )
        dev_viewer = project.create_token("vera-laptop", ["viewer"], owner=DEV_VIEWER)
    with serving(root) as served:
        port = served.hub.start_flight("127.0.0.1", 0)
        yield FlightHub(served.url, f"grpc://127.0.0.1:{port}", served.token, dev_viewer)


def test_a_large_result_arrives_whole_and_equal_to_duckdbs(hub: FlightHub) -> None:
    received = hub.get(LARGE)
    assert received.num_rows == 600_000
    assert received.equals(duckdb.sql(LARGE).to_arrow_table())


def test_models_are_read_by_name_and_match_the_http_answer(hub: FlightHub) -> None:
    sql = "select * from staging.orders order by order_id"
    received = hub.get(sql)
    answer = httpx.post(
        f"{hub.url}/api/v1/query",
        json={"sql": sql, "format": "arrow"},
        headers={"Authorization": f"Bearer {hub.admin}"},
        timeout=60,
    )
    assert received.num_rows == 300
    assert received.equals(pa.ipc.open_stream(answer.content).read_all())


def test_the_row_limit_of_the_ticket_holds(hub: FlightHub) -> None:
    limited = hub.get({"sql": LARGE, "limit": 1234})
    assert limited.num_rows == 1234
    assert limited.column_names == ["id", "doubled", "label"]


def test_a_sql_mistake_is_a_flight_error_with_the_hubs_text(hub: FlightHub) -> None:
    with pytest.raises(flight.FlightServerError) as raised:
        hub.get("select * from marts.revenu")
    text = str(raised.value)
    assert "marts.revenu" in text and "marts.revenue" in text  # what is missing, what is close
    assert "Traceback" not in text
    with pytest.raises(flight.FlightServerError, match="only reads; DELETE is not allowed"):
        hub.get("delete from staging.orders")
    with pytest.raises(flight.FlightServerError, match="the ticket is not a query: limit"):
        hub.get({"sql": "select 1", "limit": -1})


def test_a_call_without_a_valid_token_is_unauthenticated(hub: FlightHub) -> None:
    with hub.client() as client, pytest.raises(flight.FlightUnauthenticatedError, match="no token"):
        client.do_get(flight.Ticket(b"select 1")).read_all()
    with pytest.raises(flight.FlightUnauthenticatedError, match="unknown, revoked or expired"):
        hub.get("select 1", token="hg_not_a_token")


def test_a_viewer_of_dev_reads_dev_and_is_refused_prod(hub: FlightHub) -> None:
    sql = "select count(*) as n from staging.orders"
    in_dev = hub.get({"sql": sql, "environment": "dev"}, token=hub.dev_viewer)
    assert in_dev.to_pylist() == [{"n": 300}]
    with pytest.raises(flight.FlightUnauthorizedError) as refused:
        hub.get({"sql": sql, "environment": "prod"}, token=hub.dev_viewer)
    assert "vera:vera-laptop may not data:query in prod" in str(refused.value)
    with pytest.raises(flight.FlightUnauthorizedError):  # prod is the default environment
        hub.get(sql, token=hub.dev_viewer)


def test_the_environment_named_in_the_ticket_is_read(hub: FlightHub) -> None:
    sql = "select count(*) as n from marts.revenue"
    assert hub.get({"sql": sql, "environment": "dev"}).to_pylist() == [{"n": 7}]
    with pytest.raises(flight.FlightServerError, match="nowhere"):
        hub.get({"sql": sql, "environment": "nowhere"})


def test_flight_info_gives_the_schema_and_a_ticket_that_reads_the_rows(hub: FlightHub) -> None:
    command = json.dumps({"sql": LARGE, "limit": 10}).encode()
    with hub.client() as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command), hub.options())
        assert info.schema.names == ["id", "doubled", "label"]
        rows = client.do_get(info.endpoints[0].ticket, hub.options()).read_all()
    assert rows.num_rows == 10
