"""A small project in git, and a real hub serving it on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import write_project

ORDERS = "id,customer,amount,status\n" + "".join(
    f"{i},c{i % 7},{10 + i % 13}.5,{'cancelled' if i % 11 == 0 else 'placed'}\n"
    for i in range(1, 301)
)

FILES = {
    "data/orders.csv": ORDERS,
    "sources/shop.yml": """
        type: files
        description: The shop's exports.
        tables:
          orders: {path: data/orders.csv, format: csv}
    """,
    "models/staging/orders.sql": """
        /* headgate:
        description: One row per order.
        owner: data-platform
        tags: [core]
        columns:
          order_id:
            description: The order's id.
            checks: [not_null, unique]
          amount:
            checks:
              - range: {min: 0, max: 15}
                severity: warn
        */
        select id as order_id, customer, amount, status from shop.orders
    """,
    "models/marts/revenue.sql": """
        /* headgate:
        description: Revenue per customer.
        columns:
          revenue: {description: Sum of amounts.}
        checks:
          - row_count: {min: 1}
        */
        select customer, sum(amount) as revenue, count(*) as orders
        from staging.orders where status <> 'cancelled' group by customer
    """,
    "deliveries/revenue_export.yml": """
        type: export
        model: marts.revenue
        path: out/revenue.csv
    """,
}


def make_project(root: Path) -> Path:
    """The project, built into prod and committed to git on branch main."""
    from headgate.facade import Project

    write_project(root, FILES)
    (root / ".gitignore").write_text(".headgate/\nout/\n")
    with Project.load(root) as project:
        assert project.run().ok
    git(root, "init", "-q", "-b", "main")  # after the first load pinned the source's contract
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def commit_on_branch(root: Path, branch: str, files: dict[str, str], scratch: Path) -> None:
    """Commit ``files`` on a new ``branch`` from a worktree of its own: the project's
    work tree is never touched."""
    git(root, "worktree", "add", "-q", "-b", branch, str(scratch))
    for relative, text in files.items():
        (scratch / relative).write_text(text)
    git(scratch, "commit", "-q", "-am", f"change on {branch}")
    git(root, "worktree", "remove", "--force", str(scratch))


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port: int = listener.getsockname()[1]
        return port


_ADMIN_TOKENS: dict[str, str] = {}
ADMIN = "hub-admin"
ADMIN_PASSWORD = "a long admin pass phrase for tests"


def auth(url: str) -> dict[str, str]:
    """Headers that sign a test's requests to the hub at ``url`` in as its administrator
    (an API token ``running_hub`` made for it); empty while the hub asks for none."""
    token = _ADMIN_TOKENS.get(url.rstrip("/"))
    return {"Authorization": f"Bearer {token}"} if token else {}


def admin_token(root: Path, name: str) -> str:
    """A new admin token for ``root``'s hub, owned by its administrator (made on first use,
    with ADMIN_PASSWORD for the sign-in form)."""
    from headgate.facade import Project

    with Project.load(root) as project:
        if project.accounts.table.user(ADMIN) is None:
            project.add_user(ADMIN, ADMIN_PASSWORD, roles=[("admin", "*")])
        return project.create_token(name, ["admin"], owner=ADMIN)


@dataclass
class Served:
    url: str
    hub: Any  # headgate.server.hub.Hub
    token: str  # the administrator's API token
    app: Any = None  # the FastAPI application

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextmanager
def serving(root: Path, *, ui: bool = False) -> Iterator[Served]:
    """A hub for ``root`` under Uvicorn on a free loopback port, with an admin token."""
    import uvicorn

    from headgate.server.app import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = admin_token(root, f"tests-{port}")
    app = create_app(root, ui=ui)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="test-hub", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hub did not start")
        time.sleep(0.02)
    _ADMIN_TOKENS[url] = token
    try:
        yield Served(url, app.state.hub, token, app)
    finally:
        _ADMIN_TOKENS.pop(url, None)
        server.should_exit = True
        thread.join(timeout=60)


@contextmanager
def running_hub(root: Path, *, ui: bool = False) -> Iterator[str]:
    """A hub for ``root`` on a free loopback port; yields its base URL (``auth(url)``
    gives the headers of its administrator's token)."""
    with serving(root, ui=ui) as served:
        yield served.url
