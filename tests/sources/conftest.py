"""Fixtures of the source tests: a MariaDB database of their own, and a real HTTP API on loopback.

``mariadb_url`` follows the rule of ``tests/conftest.py``: an unreachable server skips
the test, unless ``HEADGATE_REQUIRE_SERVICES=1`` turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import require_service

MARIADB_DEFAULT = "mysql://root@127.0.0.1:3306/test"


def mysql_connect(url: str, database: str | None = None) -> Any:
    """A PyMySQL connection (autocommit) to the server of ``url``."""
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=database if database is not None else parts.path.lstrip("/") or None,
        autocommit=True,
        connect_timeout=3,
        charset="utf8mb4",
    )


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """The test MariaDB's URL (``HEADGATE_TEST_MARIADB``), checked to be reachable."""
    url = os.environ.get("HEADGATE_TEST_MARIADB", MARIADB_DEFAULT)
    try:
        connection = mysql_connect(url)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connection.close()
    except Exception as exc:
        require_service("MariaDB", url, exc)
    return url


@pytest.fixture
def mysql_database(mariadb_url: str) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards; yields a URL that points at it."""
    name = f"hg_test_{uuid.uuid4().hex[:10]}"
    connection = mysql_connect(mariadb_url)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    parts = urlsplit(mariadb_url)
    yield parts._replace(path=f"/{name}").geturl()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    connection.close()


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes or str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Route = Callable[[Request], Reply]


class Api:
    """A JSON API served by ``http.server`` on a free loopback port, with a log of its requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = Request(parts.path, dict(parse_qsl(parts.query)), dict(self.headers))
                with api._lock:
                    api.requests.append(request)
                route = api.routes.get(parts.path)
                reply = route(request) if route else Reply(404, {"error": "no such path"})
                if reply.delay:
                    threading.Event().wait(reply.delay)
                if isinstance(reply.body, bytes):
                    payload = reply.body
                elif isinstance(reply.body, str):
                    payload = reply.body.encode()
                else:
                    payload = json.dumps(reply.body).encode()
                headers = {"Content-Type": "application/json", **reply.headers}
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


# the stream sources' fixtures (NATS, Redis), kept in their own module
from tests.sources.conftest_streams import nats_stream, nats_url, redis_key, redis_url  # noqa: E402, F401
