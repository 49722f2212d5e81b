"""The vault refuses secret values too short to be masked, with a message saying what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import HeadgateError
from headgate.sources.secrets import MIN_SECRET_LENGTH
from tests.support import cli, cli_json, write_project

FILES = {"models/n.sql": "select 1 as n"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", FILES)


def set_from_stdin(root: Path, name: str, value: str) -> subprocess.CompletedProcess[str]:
    """``headgate secrets set NAME`` in its own process, the value on standard input."""
    return subprocess.run(
        [sys.executable, "-m", "headgate.cli.main", "-p", str(root), "secrets", "set", name],
        input=value + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


def test_secrets_set_refuses_a_short_value_saying_what_is_allowed(root: Path) -> None:
    refused = set_from_stdin(root, "PIN", "4711")
    shown = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "secret PIN is 4 characters long" in shown
    assert f"{MIN_SECRET_LENGTH} or more" in shown and "longer value" in shown
    assert "Traceback" not in shown and "4711" not in shown
    assert cli_json(root, "secrets", "list")["secrets"] == []


def test_secrets_set_keeps_a_value_long_enough(root: Path) -> None:
    kept = set_from_stdin(root, "API_TOKEN", "x" * MIN_SECRET_LENGTH)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert [s["name"] for s in cli_json(root, "secrets", "list")["secrets"]] == ["API_TOKEN"]


def test_the_project_api_refuses_a_one_character_secret(root: Path) -> None:
    with Project.load(root) as project, pytest.raises(HeadgateError) as caught:
        project.secret_set("FLAG", "x")
    assert "1 character long" in caught.value.render()


def test_a_short_secret_from_the_environment_is_masked_only_where_it_stands_alone(
    tmp_path: Path,
) -> None:
    files = {
        "models/a.sql": "select 1 as x",
        "steps/export.yml": """
            shell: 'echo "pin $PIN accepted at 14:40, 4 tables"'
            env: {PIN: "${secret:EXPORT_PIN}"}
            upstream: [a]
        """,
    }
    root = write_project(tmp_path / "p", files)
    ran = cli(root, "run", env={"EXPORT_PIN": "4"})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = str(cli_json(root, "runs")["runs"][0]["id"])
    shown = cli(root, "runs", run_id, "--task", "steps.export", check=True).stdout
    # the value never whole, and the rest of the line still readable
    assert "pin *** accepted at 14:40, *** tables" in shown
