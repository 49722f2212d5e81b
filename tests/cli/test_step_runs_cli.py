"""`headgate runs <id>` shows a step's output in its row; `--task` prints all of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import cli, write_project

pytestmark = pytest.mark.fast

LINES = "; ".join(f"echo line {i}" for i in range(1, 9))
FILES = {
    "models/a.sql": "select 1 as x",
    "steps/export.yml": f"""
        shell: '{LINES}; echo "sent [bold]to[/] $TOKEN"'
        env: {{TOKEN: "${{secret:EXPORT_TOKEN}}"}}
        upstream: [a]
    """,
}
SECRET = "exp-31c9-secret"


@pytest.fixture
def ran(tmp_path: Path) -> tuple[Path, str]:
    root = write_project(tmp_path, FILES)
    result = cli(root, "run", env={"EXPORT_TOKEN": SECRET})
    assert result.returncode == 0, result.stdout + result.stderr
    runs = json.loads(cli(root, "runs", "--json", check=True).stdout)["runs"]
    return root, str(runs[0]["id"])


def test_a_step_row_shows_its_last_lines_and_how_to_see_the_rest(ran: tuple[Path, str]) -> None:
    root, run_id = ran
    table = cli(root, "runs", run_id, check=True).stdout
    row = table[table.index("steps.export") :]
    assert "output" in table.splitlines()[1] or "output" in table
    assert "line 7" in row and "line 8" in row and "sent [bold]to[/] ***" in row
    assert "line 5" not in row  # the last three lines only
    assert f"headgate runs {run_id} --task steps.export" in row
    assert SECRET not in table


def test_the_task_option_prints_a_steps_whole_output(ran: tuple[Path, str]) -> None:
    root, run_id = ran
    shown = cli(root, "runs", run_id, "--task", "steps.export", check=True).stdout
    assert "steps.export (step) in run" in shown
    assert all(f"line {i}" in shown for i in range(1, 9))
    assert "sent [bold]to[/] ***" in shown and SECRET not in shown
    assert ".headgate/steps/run-" in shown  # where it was read from


def test_the_json_keeps_the_output_too(ran: tuple[Path, str]) -> None:
    root, run_id = ran
    record = json.loads(cli(root, "runs", run_id, "--json", check=True).stdout)
    export = next(t for t in record["tasks"] if t["name"] == "steps.export")
    assert export["detail"]["output"].endswith("sent [bold]to[/] ***")
    assert export["detail"]["log"].endswith("steps.export.log")


def test_an_unknown_task_and_a_task_without_a_run_are_refused(ran: tuple[Path, str]) -> None:
    root, run_id = ran
    unknown = cli(root, "runs", run_id, "--task", "steps.nope")
    assert unknown.returncode != 0 and "has no task named 'steps.nope'" in unknown.stderr
    assert "steps.export" in unknown.stderr and "Traceback" not in unknown.stderr
    alone = cli(root, "runs", "--task", "steps.export")
    assert alone.returncode != 0 and "--task needs a run's id" in alone.stderr
