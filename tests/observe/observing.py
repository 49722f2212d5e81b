"""What the observe tests share: a hub with a clock the test moves, a webhook receiver and
an SMTP server, all real and on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.server.hubs import free_port
from tests.support import write_project

try:
    from tests.server.hubs import admin_token
except ImportError:  # a hub that asks for no token
    admin_token = None  # type: ignore[assignment]


@dataclass
class Clock:
    """The time the hub's observer sees; the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server that keeps every request it gets (a webhook, a Slack hook)."""

    url: str
    requests: list[Received] = field(default_factory=list)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _keep(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                receiver.requests.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
            answer = b"ok"  # what Slack answers: plain text, not JSON
            self.send_response(200)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_PUT = do_GET = _keep

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def smtp_server(*, password: str | None = None) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port, keeping every message; with
    ``password``, it asks every client to log in with it (AUTH LOGIN/PLAIN)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    box = Mailbox(free_port())

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        login, given = data.login.decode(), data.password.decode()
        box.logins.append((login, given))
        return AuthResult(success=given == password)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            box.messages.append(message_from_bytes(envelope.original_content or b""))
            return "250 Message accepted for delivery"

    options: dict[str, Any] = {}
    if password is not None:
        options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port, **options)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def observed_project(root: Path, observe_yaml: str) -> Path:
    """A small project whose headgate.yml holds ``observe_yaml`` (the `observe:` block)."""
    config = "name: watched\n" + observe_yaml
    return write_project(
        root,
        {
            "models/staging/numbers.sql": "select 1 as n",
            "models/marts/totals.sql": "select sum(n) as total from staging.numbers",
        },
        config=config,
    )


@dataclass
class ObservedHub:
    url: str
    hub: Any  # headgate.server.hub.Hub
    headers: dict[str, str]  # an administrator's token, when the hub asks for one

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30)


@contextmanager
def observed_hub(root: Path, clock: Clock) -> Iterator[ObservedHub]:
    """A hub on a free port whose observer reads ``clock``."""
    import uvicorn

    from headgate.server.app import create_app
    from headgate.server.hub import Hub

    port = free_port()
    headers = {}
    if admin_token is not None:
        headers = {"Authorization": f"Bearer {admin_token(root, f'observe-{port}')}"}
    hub = Hub(root, clock=clock)
    app = create_app(root, hub=hub, ui=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hub did not start")
        time.sleep(0.02)
    try:
        yield ObservedHub(f"http://127.0.0.1:{port}", hub, headers)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        hub.close()


def wait_for(predicate: Any, *, timeout: float = 20.0) -> None:
    """Until ``predicate()`` holds (a timeout that only stops a hang)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("waited too long")
        time.sleep(0.05)
