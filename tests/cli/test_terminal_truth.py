"""What short commands print: whole names in narrow tables, suggestions from the environment
queried, and who holds a busy warehouse."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support import cli, cli_json, write_project

LONG_NAMES = {
    "models/marts/customer_lifetime_value.sql": "select 1 as customer_id, 10.0 as value",
    "models/marts/customer_lifetime_segments.sql": """
        /* headgate:
        columns:
          customer_id:
            checks:
              - accepted_values: {values: [2]}
                severity: warn
        */
        select customer_id, 'new' as segment from marts.customer_lifetime_value
    """,
}


def rows_naming(text: str, name: str) -> list[str]:
    """Table rows whose first cell is ``name``, whole."""
    return [line for line in text.splitlines() if line.startswith(f"│ {name} ")]


def first_cells(text: str) -> str:
    """The first column's text, its folded pieces joined back together."""
    return "".join(line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│"))


def test_narrow_tables_show_model_and_check_names_whole(tmp_path: Path) -> None:
    root = write_project(tmp_path, LONG_NAMES)
    names = ("marts.customer_lifetime_value", "marts.customer_lifetime_segments")
    check = "marts.customer_lifetime_segments.customer_id.accepted_values"
    # piped output is 80 columns wide: the other columns give way to the names
    run = cli(root, "run", env={"COLUMNS": "80"}, check=True).stdout
    assert len(rows_naming(run, check)) == 1, run
    for name in names:
        assert len(rows_naming(run, name)) == 1, run
    status = cli(root, "status", env={"COLUMNS": "60"}, check=True).stdout
    for name in names:
        assert len(rows_naming(status, name)) == 1, status
    assert max(len(line) for line in status.splitlines()) <= 60

    # narrower than a name: folded onto more lines, never cut
    tiny = cli(root, "status", env={"COLUMNS": "30"}, check=True).stdout
    assert "…" not in first_cells(tiny)
    assert first_cells(tiny) == "".join(names), tiny  # in dependency order

    (root / "models/marts/customer_lifetime_value.sql").write_text(
        "select 1 as customer_id, 20.0 as value"
    )
    plan = cli(root, "plan", env={"COLUMNS": "60"}, check=True).stdout
    for name in names:
        assert len(rows_naming(plan, name)) == 1, plan


def test_an_unknown_table_is_answered_with_names_the_environment_publishes(
    tmp_path: Path,
) -> None:
    root = write_project(
        tmp_path, {"models/marts/orders.sql": "select 1 as id, 'web' as channel, 10.0 as amount"}
    )
    cli(root, "run", check=True)
    (root / "models/marts/revenue_by_channel.sql").write_text(
        "select channel, sum(amount) as revenue from marts.orders group by 1"
    )
    cli(root, "env", "create", "dev", check=True)
    cli(root, "run", "--env", "dev", check=True)
    cli(root, "deploy", "--from", "dev", "--to", "prod", check=True)
    cli(root, "rollback", "prod", check=True)

    gone = cli(root, "query", "select * from marts.revenue_by_channel")
    assert gone.returncode == 1
    assert "prod publishes no model or source named marts.revenue_by_channel" in gone.stderr
    assert "__dev" not in gone.stderr and "Did you mean" not in gone.stderr
    typo = cli(root, "query", "select * from marts.revenue_by_chanel", "--env", "dev")
    assert "did you mean marts.revenue_by_channel?" in typo.stderr
    assert "__dev" not in typo.stderr
    short = cli(root, "query", "select o.id from ordrs o")
    assert "did you mean marts.orders?" in short.stderr


HOLD_READING = """
import sys, time
from pathlib import Path
import duckdb

connection = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
deadline = time.monotonic() + 120
while not Path(sys.argv[2]).exists() and time.monotonic() < deadline:
    time.sleep(0.05)
connection.close()
"""
GATED_MODEL = """
import time
from pathlib import Path
import pyarrow as pa

def model(ctx):
    deadline = time.monotonic() + 120
    while not Path({gate!r}).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pa.table({{"n": [1]}})
"""


def headgate(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "headgate.cli.main", "-p", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def said_until_busy(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    said = ""
    while "waiting" not in said:
        line = process.stderr.readline()
        if not line:
            break
        said += line
    return " ".join(said.split())  # as one line, however the terminal wrapped it


def test_a_busy_warehouse_names_the_process_holding_it(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", {"models/a.sql": "select 1 as n"})
    cli(root, "run", check=True)
    warehouse = root / ".headgate/warehouse.duckdb"

    # a reader (a notebook, say) holds the file: a run waits and says who, and that it reads
    gate = tmp_path / "reader-gate"
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD_READING, str(warehouse), str(gate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdout.readline() == "holding\n"
    run = headgate(root, "run", "--full-refresh")
    said = said_until_busy(run)
    gate.touch()
    reader.wait(timeout=60)
    assert run.wait(timeout=120) == 0, said
    assert f"(PID {reader.pid}) is reading warehouse.duckdb" in said, said
    assert "writing" not in said and "another headgate process" not in said

    # a headgate run holds it: a query says which run it waits for
    gate = tmp_path / "run-gate"
    (root / "models/slow.py").write_text(GATED_MODEL.format(gate=str(gate)))
    writer = headgate(root, "run")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and cli_json(root, "runs")["runs"][0]["status"] != "running":
        time.sleep(0.1)
    query = headgate(root, "query", "select n from a")
    said = said_until_busy(query)
    gate.touch()
    assert writer.wait(timeout=120) == 0
    assert query.wait(timeout=120) == 0, said
    assert f"(PID {writer.pid}) is using warehouse.duckdb" in said, said
    assert "(it is headgate run 3 in prod, started by " in said, said


def test_a_query_prints_the_same_rows_in_every_environment_and_form(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "models/marts/days.sql": (
                "select d::date as day, i as n, i * 1.5 as amount from range(5) t(i), "
                "(select date '2024-01-01' as d)"
            )
        },
    )
    cli(root, "run", check=True)
    cli(root, "env", "create", "dev", check=True)
    sql = "select day, n, amount from marts.days order by n"
    prod = cli_json(root, "query", sql, "--limit", "3")  # read straight from the warehouse
    dev = cli_json(root, "query", sql, "--limit", "3", "--env", "dev")  # rewritten to dev's views
    assert prod == dev
    assert prod["columns"] == ["day", "n", "amount"]
    assert prod["rows"][0] == {"day": "2024-01-01", "n": 0, "amount": 0.0}
    assert len(prod["rows"]) == 3
    csv = cli(root, "query", sql, "--csv", check=True).stdout
    assert csv.splitlines()[:2] == ["day,n,amount", "2024-01-01,0,0.0"]
    text = cli(root, "query", sql, check=True).stdout
    assert "5 row(s)" in text and "2024-01-01" in text
    refused = cli(root, "query", "delete from marts.days")
    assert refused.returncode == 1 and "only reads" in refused.stderr
