"""The README tells the truth: every command it lists exists, and its Python example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import write_project

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_every_command_in_the_readme_table_exists() -> None:
    listed = set(re.findall(r"^\| `headgate (\w+)", README.read_text(), flags=re.MULTILINE))
    assert {"init", "demo", "run", "plan", "runs", "status", "query"} <= listed
    for command in sorted(listed):
        done = subprocess.run(
            [sys.executable, "-m", "headgate.cli.main", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"headgate {command} --help: {done.stderr}"


def test_the_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = re.search(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert example is not None
    write_project(
        tmp_path / "demo-shop",
        {
            "models/marts/daily_revenue.sql": "select 1 as revenue",
            "models/intermediate/x.sql": "select 1 as x",
        },
    )
    monkeypatch.chdir(tmp_path)
    exec(compile(example.group(1), "README.md", "exec"), {})  # raises if the example is wrong
