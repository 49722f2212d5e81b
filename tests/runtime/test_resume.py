"""A run killed with SIGKILL: readers keep the old version, the next run finishes the job."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.support import cli_json, write_project

pytestmark = pytest.mark.slow  # real headgate processes, started and stopped

SLOW_MODEL = """
import time
from pathlib import Path
import pyarrow as pa

def model(ctx):
    upstream = ctx.ref("base")
    gate = Path({gate!r})
    # version 2's later steps wait for the test to open the gate: the kill comes first
    for _ in range(600 if {version} == 2 and {step} >= 2 else 0):
        if gate.exists():
            break
        time.sleep(0.1)
    return pa.table({{"step": [{step}], "version": [{version}], "n": [upstream.num_rows]}})
"""


def files(version: int, gate: Path) -> dict[str, str]:
    found = {"models/base.sql": f"select i, {version} as version from range(100) t(i)"}
    for step in range(6):
        source = SLOW_MODEL.format(step=step, version=version, gate=str(gate))
        found[f"models/steps/s{step}.py"] = source
    return found


def published_versions(root: Path) -> set[int]:
    connection = duckdb.connect(str(root / ".headgate/warehouse.duckdb"), read_only=True)
    try:
        rows = connection.execute(
            " union all ".join(f"select version from steps.s{i}" for i in range(6))
        ).fetchall()
    finally:
        connection.close()
    return {r[0] for r in rows}


def built_tables(root: Path) -> int:
    connection = duckdb.connect(str(root / ".headgate/warehouse.duckdb"), read_only=True)
    try:
        rows = connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'headgate_physical' and table_name like 'steps__%'"
        ).fetchall()
    finally:
        connection.close()
    return int(rows[0][0])


def steps_built_in_run(root: Path, run_id: int) -> int:
    """Read the metadata store as any other process could while the run holds the warehouse."""
    connection = sqlite3.connect(root / ".headgate/state.db", timeout=5)
    try:
        rows = connection.execute(
            "select count(*) from tasks where run_id = ? and status = 'built' and name like 'steps.%'",
            (run_id,),
        ).fetchall()
    finally:
        connection.close()
    return int(rows[0][0])


def test_killed_run_resumes_without_rebuilding_and_never_exposes_half_a_version(
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    root = write_project(tmp_path, files(1, gate))
    first = cli_json(root, "run")
    assert first["status"] == "success"
    assert published_versions(root) == {1}
    write_project(tmp_path, files(2, gate))

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headgate.cli.main",
            "-p",
            str(root),
            "run",
            "--threads",
            "1",
            "--json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    # wait until some, not all, of version 2's models are built
    while time.monotonic() < deadline and steps_built_in_run(root, first["run_id"] + 1) < 2:
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    built_before_kill = built_tables(root) - 6
    assert 0 < built_before_kill < 6  # the gate holds steps 2-5 of version 2 until now
    gate.touch()

    # readers see the old version, whole
    assert published_versions(root) == {1}

    result = cli_json(root, "run")
    assert result["status"] == "success"
    rebuilt = [m["name"] for m in result["models"] if m["status"] == "built"]
    assert len([n for n in rebuilt if n.startswith("steps.")]) == 6 - built_before_kill
    assert published_versions(root) == {2}

    runs = cli_json(root, "runs")["runs"]
    assert [r["status"] for r in runs][:3] == ["success", "abandoned", "success"]
    assert json.dumps(runs)  # history is readable
