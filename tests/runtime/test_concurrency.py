"""Two runs of one environment at once: one waits, and nothing is mixed or doubled."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support import cli_json, write_project

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
    "models/slow.py": """
        import time
        import pyarrow as pa

        def model(ctx):
            rows = ctx.ref("inc.events").num_rows
            time.sleep(2.0)
            return pa.table({"rows": [rows]})
    """,
}


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


def test_concurrent_runs_wait_for_each_other_and_never_double_rows(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    first = start_run(root)
    time.sleep(0.8)
    second = start_run(root)
    out_first, _ = first.communicate(timeout=120)
    out_second, err_second = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, err_second
    assert "busy" in err_second  # the second said what it was waiting for
    statuses = [json.loads(out_first)["status"], json.loads(out_second)["status"]]
    assert statuses == ["success", "nothing_to_do"]
    rows = cli_json(
        root, "query", "select count(*) as n, count(distinct id) as ids from inc.events"
    )
    assert rows["rows"] == [{"n": 96, "ids": 96}]
