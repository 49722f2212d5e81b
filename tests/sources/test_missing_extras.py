"""`pip install headgate` without the sources extra: a database, API or stream source says what to install."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import write_project

SOURCES = {
    "http": (
        "type: http\nbase_url: http://127.0.0.1:9\ntables:\n  orders: {path: /orders}\n",
        "httpx",
    ),
    "sqlite": (
        "type: sqlite\nurl: shop.db\ntables:\n  orders: {table: orders}\n",
        "adbc_driver_sqlite",
    ),
    "postgres": (
        "type: postgres\nurl: postgresql://127.0.0.1:9/none\ntables:\n  orders: {table: orders}\n",
        "adbc_driver_postgresql",
    ),
    "mysql": (
        "type: mysql\nurl: mysql://127.0.0.1:9/none\ntables:\n  orders: {table: orders}\n",
        "connectorx",
    ),
    "nats": (
        "type: nats\nservers: nats://127.0.0.1:9\ntables:\n  orders: {stream: ORDERS}\n",
        "nats",
    ),
    "redis_stream": (
        "type: redis_stream\nurl: redis://127.0.0.1:9/0\ntables:\n  orders: {stream: orders}\n",
        "redis",
    ),
}


def run_without(root: Path, module: str) -> subprocess.CompletedProcess[str]:
    """``headgate run --json`` in a Python where ``module`` cannot be imported."""
    program = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # what an install without the extra looks like\n"
        "from headgate.cli.main import main\n"
        f"sys.argv = ['headgate', '-p', {str(root)!r}, 'run', '--json']\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_a_missing_driver_names_the_package_and_the_extra(tmp_path: Path, kind: str) -> None:
    declared, module = SOURCES[kind]
    root = write_project(
        tmp_path,
        {"sources/shop.yml": declared, "models/staging/orders.sql": "select * from shop.orders"},
    )
    with sqlite3.connect(root / "shop.db") as db:
        db.execute("create table orders (id integer)")
    done = run_without(root, module)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    shop = next(m for m in json.loads(done.stdout)["models"] if m["name"] == "shop.orders")
    assert shop["status"] == "failed"
    assert f"source 'shop' (type: {kind}) reads with the Python package" in shop["error"]
    assert "pip install 'headgate[sources]'" in shop["error"]
    assert "ModuleNotFoundError" not in shop["error"]
