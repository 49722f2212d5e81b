"""SQL a Python model builds at run time is checked like a model's: refused with where, never run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import cli, write_project

ORDERS = "select range as order_id from range(10)"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("'select a.order_id from staging.orders a join staging.orders b ' + 'on'", "at 'on'"),
        (
            "'select ' + repr('open') + ' as status, order_id ' + \"from staging.orders where status = 'x\"",
            "unterminated string literal",
        ),
    ],
)
def test_sql_built_at_run_time_is_refused_with_its_position(
    tmp_path: Path, query: str, expected: str
) -> None:
    model = f"def model(ctx):\n    return ctx.sql({query})\n"
    root = write_project(
        tmp_path, {"models/staging/orders.sql": ORDERS, "models/marts/pairs.py": model}
    )
    done = cli(root, "run", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    pairs = next(m for m in json.loads(done.stdout)["models"] if m["name"] == "marts.pairs")
    assert pairs["status"] == "failed"
    assert pairs["error"].startswith("ctx.sql(...): line 1, column")
    assert expected in pairs["error"]
