"""Two runs of one environment at once: one waits, and nothing is mixed or doubled."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import cli_json, write_project

pytestmark = pytest.mark.slow  # real headgate processes, started and stopped

FILES = {
    "models/raw/events.sql": "select i as id, TIMESTAMP '2024-01-01' + (i * INTERVAL 1 HOUR) as ts from range(96) t(i)",
    "models/inc/events.sql": """
        /* headgate:
        materialized: incremental
        time_column: ts
        start: 2024-01-01
        unique_key: id
        */
        select id, ts from raw.events
    """,
}
# The last model of the first run holds it open until the test opens the gate: the second
# run then surely starts while the first is still writing, however slow the machine.
GATED_MODEL = """
import time
from pathlib import Path
import pyarrow as pa

def model(ctx):
    rows = ctx.ref("inc.events").num_rows
    deadline = time.monotonic() + 120
    while not Path({gate!r}).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pa.table({{"rows": [rows]}})
"""


def start_run(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headgate.cli.main",
            "-p",
            str(root),
            "run",
            "--json",
            "--end",
            "2024-01-05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_running(root: Path, process: subprocess.Popen[str]) -> None:
    """Until the run is recorded as running (it holds the environment's lock by then)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            connection = sqlite3.connect(root / ".headgate/state.db", timeout=5)
            try:
                rows = connection.execute(
                    "select count(*) from runs where status = 'running'"
                ).fetchall()
            finally:
                connection.close()
            if rows[0][0]:
                return
        except sqlite3.Error:
            pass  # the store is not made yet
        time.sleep(0.05)
    raise AssertionError("the first run never started")


def test_concurrent_runs_wait_for_each_other_and_never_double_rows(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    root = write_project(
        tmp_path / "project", {**FILES, "models/slow.py": GATED_MODEL.format(gate=str(gate))}
    )
    first = start_run(root)
    wait_until_running(root, first)
    second = start_run(root)
    assert second.stderr is not None
    said = ""
    while "busy" not in said:  # until the second run says what it waits for (or ends)
        line = second.stderr.readline()
        if not line:
            break
        said += line
    gate.touch()
    out_first, _ = first.communicate(timeout=120)
    out_second, err_second = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, said + err_second
    assert "busy" in said  # the second said what it was waiting for
    statuses = [json.loads(out_first)["status"], json.loads(out_second)["status"]]
    assert statuses == ["success", "nothing_to_do"]
    rows = cli_json(
        root, "query", "select count(*) as n, count(distinct id) as ids from inc.events"
    )
    assert rows["rows"] == [{"n": 96, "ids": 96}]
