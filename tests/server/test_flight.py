"""Arrow Flight from the hub: query results as record batches over gRPC, signed in and
allowed as POST /api/v1/query is, against a real hub on free loopback ports."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from headgate.errors import HeadgateError
from tests.server.hubs import admin_token, commit_on_branch, free_port, make_project, serving
from tests.support import cli

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


def test_headgate_serve_with_a_flight_port_answers_query_dash_dash_flight(tmp_path: Path) -> None:
    root = make_project(tmp_path / "shop")
    token = admin_token(root, "flight-cli")
    port, flight_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    options = ["--port", str(port), "--flight-port", str(flight_port), "--log-level", "warning"]
    server = subprocess.Popen(
        [sys.executable, "-m", "headgate.cli.main", "-p", str(root), "serve", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        advertised = _when_up(url, token, server)
        assert advertised["flight_port"] == flight_port
        remote = ("--hub", url, "--token", token)
        sql = "select customer, revenue from marts.revenue order by customer"
        over_http = cli(root, *remote, "query", sql, "--json")
        over_flight = cli(root, *remote, "query", sql, "--json", "--flight")
        assert over_flight.returncode == 0, over_flight.stderr
        assert over_flight.stdout == over_http.stdout and '"c0"' in over_flight.stdout
        mistake = cli(root, *remote, "query", "select * from marts.revenu", "--flight")
        assert mistake.returncode == 1
        assert mistake.stderr.startswith("error: prod publishes no model or source named")
        assert (
            "hint: did you mean marts.revenue?" in mistake.stderr and "gRPC" not in mistake.stderr
        )
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_a_hub_without_flight_says_so_and_a_taken_port_is_refused_clearly(tmp_path: Path) -> None:
    root = make_project(tmp_path / "shop")
    with serving(root) as served:
        printed = cli(
            root, "--hub", served.url, "--token", served.token, "query", "select 1", "--flight"
        )
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(
                HeadgateError, match=f"cannot serve Arrow Flight on 127.0.0.1:{port}"
            ):
                served.hub.start_flight("127.0.0.1", port)
    assert printed.returncode == 1
    assert "serves no Arrow Flight" in printed.stderr and "--flight-port" in printed.stderr


def _when_up(url: str, token: str, server: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"headgate serve ended: {server.stderr.read() if server.stderr else ''}"
            )
        try:
            answer = httpx.get(
                f"{url}/api/v1/project", headers={"Authorization": f"Bearer {token}"}, timeout=5
            )
            if answer.status_code == 200:
                found: dict[str, object] = answer.json()
                return found
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("headgate serve did not start in 60 s")


def test_the_readmes_flight_snippet_reads_a_model(
    hub: FlightHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    snippet = next(code for code in snippets if "flight.connect(" in code)
    assert '"grpc://127.0.0.1:8815"' in snippet
    monkeypatch.setenv("HEADGATE_TOKEN", hub.admin)
    code = snippet.replace("grpc://127.0.0.1:8815", hub.location)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == "7 ['customer', 'revenue', 'orders']\n"


def test_a_query_past_its_timeout_is_stopped_and_the_hub_reads_on(hub: FlightHub) -> None:
    slow = "select count(*) from range(100000000) a, range(1000000) b"
    with pytest.raises(flight.FlightTimedOutError, match="longer than its timeout"):
        hub.get({"sql": slow, "timeout": 0.5})
    assert hub.get("select count(*) as n from staging.orders").to_pylist() == [{"n": 300}]


def test_reads_through_a_deploy_see_the_old_total_or_the_new_never_an_error(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "shop")
    revenue = (root / "models/marts/revenue.sql").read_text()
    doubled = revenue.replace("sum(amount) as revenue", "sum(amount) * 2 as revenue")
    commit_on_branch(root, "double", {"models/marts/revenue.sql": doubled}, tmp_path / "wt")
    ticket = flight.Ticket(b"select sum(revenue) as total from marts.revenue")
    with (
        serving(root) as served,
        httpx.Client(base_url=f"{served.url}/api/v1", headers=served.headers, timeout=120) as api,
    ):
        location = f"grpc://127.0.0.1:{served.hub.start_flight('127.0.0.1', 0)}"
        options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {served.token}".encode())]
        )
        assert api.post("/environments", json={"name": "next"}).status_code == 201
        run = api.post("/runs", json={"environment": "next", "revision": "double"}).json()
        with api.stream("GET", f"/runs/{run['run_id']}/events") as events:
            for _ in events.iter_lines():
                pass
        totals: list[float] = []
        errors: list[str] = []
        stop = threading.Event()

        def read() -> None:
            with flight.connect(location) as client:
                while not stop.is_set():
                    try:
                        totals.append(client.do_get(ticket, options).read_all()["total"][0].as_py())
                    except flight.FlightError as exc:
                        errors.append(str(exc))

        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        try:
            time.sleep(0.3)
            assert api.post("/deployments", json={"from": "next", "to": "prod"}).status_code == 201
            time.sleep(0.3)
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=60)
    assert errors == []
    before = totals[0]
    assert set(totals) == {before, before * 2}  # the old total, then the new one


def _scraped(hub: FlightHub) -> dict[tuple[str, str], float]:
    """``/metrics``' query counters: (family, protocol) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = httpx.get(
        f"{hub.url}/metrics", headers={"Authorization": f"Bearer {hub.admin}"}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, sample.labels["protocol"]): sample.value
        for family in text_string_to_metric_families(answer.text)
        if family.name.startswith("headgate_query_")
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_flight_queries_are_counted_in_metrics_as_http_ones_are(hub: FlightHub) -> None:
    sql = "select range as id from range(1000)"
    before = _scraped(hub)
    assert hub.get(sql).num_rows == 1000
    with pytest.raises(flight.FlightServerError):
        hub.get("select * from marts.revenu")
    over_http = httpx.post(
        f"{hub.url}/api/v1/query",
        json={"sql": sql, "format": "arrow"},
        headers={"Authorization": f"Bearer {hub.admin}"},
        timeout=60,
    )
    assert over_http.status_code == 200
    after = _scraped(hub)

    def grown(name: str, protocol: str) -> float:
        key = (f"headgate_query_{name}_total", protocol)
        return after[key] - before[key]

    assert grown("requests", "flight") == 2 and grown("errors", "flight") == 1
    assert grown("rows", "flight") == 1000 and grown("bytes", "flight") >= 8 * 1000  # BIGINT
    assert grown("requests", "http") == 1 and grown("errors", "http") == 0
    assert grown("rows", "http") == 1000 and grown("bytes", "http") == grown("bytes", "flight")
