"""The command line as a user runs it: init, run, runs, status, query, and clear errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support import cli, cli_json, statuses, write_project

FILES = {
    "models/staging/numbers.sql": "select i as id, i % 3 as g from range(30) t(i)",
    "models/marts/groups.sql": "/* headgate:\ntags: [finance]\n*/\nselect g, count(*) as n from staging.numbers group by g",
}


def test_init_scaffolds_a_project_that_runs(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    done = cli(tmp_path, "init", str(target), check=True)
    assert "created project" in done.stdout
    for folder in ("models", "sources", "checks", "deliveries"):
        assert (target / folder).is_dir()
    assert ".headgate/" in (target / ".gitignore").read_text()
    assert "name: fresh" in (target / "headgate.yml").read_text()
    result = cli_json(target, "run")
    assert result["status"] == "success"
    again = cli(tmp_path, "init", str(target))
    assert again.returncode == 1 and "already holds a project" in again.stderr


def test_run_json_document_has_the_promised_shape(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    result = cli_json(root, "run")
    assert set(result) >= {"run_id", "status", "models"}
    assert result["status"] == "success"
    model = next(m for m in result["models"] if m["name"] == "marts.groups")
    assert set(model) >= {"name", "status", "rows", "seconds", "fingerprint"}
    assert model["status"] == "built" and model["rows"] == 3
    second = cli_json(root, "run")
    assert set(statuses(second).values()) == {"skipped"}


def test_run_prints_a_summary_table(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    done = cli(root, "run", check=True)
    assert "marts.groups" in done.stdout and "built" in done.stdout
    assert "prod published" in done.stdout
    again = cli(root, "run", check=True)
    assert "nothing to build" in again.stdout


def test_runs_and_status(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    first = cli_json(root, "run")
    runs = cli_json(root, "runs")["runs"]
    assert runs[0]["id"] == first["run_id"] and runs[0]["status"] == "success"
    detail = cli_json(root, "runs", str(first["run_id"]))
    assert {t["name"] for t in detail["tasks"]} == {"staging.numbers", "marts.groups"}
    status = cli_json(root, "status")
    assert {m["name"]: m["state"] for m in status["models"]} == {
        "staging.numbers": "up to date",
        "marts.groups": "up to date",
    }
    (root / "models/marts/groups.sql").write_text("select g from staging.numbers")
    status = cli_json(root, "status")
    assert {m["name"]: m["state"] for m in status["models"]}["marts.groups"] == "changed"
    table = cli(root, "status", check=True)
    assert "changed" in table.stdout


def test_query_table_json_and_csv(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    as_json = cli_json(root, "query", "select g, n from marts.groups order by g")
    assert as_json["rows"] == [{"g": 0, "n": 10}, {"g": 1, "n": 10}, {"g": 2, "n": 10}]
    as_csv = cli(root, "query", "select g, n from marts.groups order by g", "--csv", check=True)
    assert list(csv.reader(io.StringIO(as_csv.stdout)))[:2] == [["g", "n"], ["0", "10"]]
    table = cli(root, "query", "select count(*) as total from staging.numbers", check=True)
    assert "30" in table.stdout


def test_query_refuses_writes(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    done = cli(root, "query", "drop table marts.groups")
    assert done.returncode == 1
    assert "only reads" in done.stderr
    assert "Traceback" not in done.stderr


def test_errors_are_one_clear_message_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    root = write_project(
        tmp_path, {**FILES, "models/marts/bad.sql": "select * from staging.numbrs"}
    )
    done = cli(root, "run")
    assert done.returncode == 1
    assert "models/marts/bad.sql:1" in done.stderr
    assert "did you mean staging.numbers" in done.stderr
    assert "Traceback" not in done.stderr
    debug = cli(root, "--debug", "run")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.slow  # real processes
def test_the_installed_command_exits_as_the_shell_sees_it(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("headgate")  # the entry point pip installed
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout.startswith("headgate ")
    root = write_project(
        tmp_path, {**FILES, "models/marts/bad.sql": "select * from staging.numbrs"}
    )
    failed = cli(root, "run", subprocess=True)
    assert failed.returncode == 1 and failed.stdout == ""
    assert "did you mean staging.numbers" in failed.stderr and "Traceback" not in failed.stderr
    usage = cli(root, "run", "--no-such-option", subprocess=True)
    assert usage.returncode == 2 and "No such option" in usage.stderr


def test_a_failed_model_exits_non_zero(tmp_path: Path) -> None:
    root = write_project(tmp_path, {**FILES, "models/marts/broken.sql": "select 'x'::int as v"})
    done = cli(root, "run")
    assert done.returncode == 1
    assert "marts.broken" in done.stdout and "Conversion Error" in done.stdout
    assert "left exactly as it was" in done.stdout


def test_no_project_found_is_explained(tmp_path: Path) -> None:
    done = cli(tmp_path / "nowhere", "run")
    assert done.returncode == 1
    assert "no headgate.yml" in done.stderr and "headgate init" in done.stderr


@pytest.mark.slow  # real processes
def test_a_busy_warehouse_is_waited_for(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "models/marts/groups.sql").write_text(
        "select g, count(*) * 2 as n from staging.numbers group by g"
    )
    holder = duckdb.connect(
        str(root / ".headgate/warehouse.duckdb")
    )  # another writer holds the file
    process = subprocess.Popen(
        [sys.executable, "-m", "headgate.cli.main", "-p", str(root), "run", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    said = process.stderr.readline()  # blocks until headgate says it is waiting
    assert "warehouse busy" in said
    assert process.poll() is None  # still waiting, not failed
    holder.close()
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    assert json.loads(out)["status"] == "success"
