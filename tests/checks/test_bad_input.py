"""Checks that cannot run are refused when the project loads, at their file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import cli, write_project

MODEL = "select 'a@b.example' as email, 'x' as code"


def refused(root: Path, *args: str) -> str:
    done = cli(root, *args)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output
    return " ".join(output.split())


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("^[a-z+@", "missing ]: [a-z+@"),
        ("(ab", "missing ): (ab"),
        ("a{3,1}", "invalid repetition size: {3,1}"),
        ("(?=x)y", "invalid perl operator: (?="),
    ],
)
def test_a_regex_that_does_not_compile_is_refused_before_anything_runs(
    tmp_path: Path, pattern: str, reason: str
) -> None:
    sidecar = f"columns:\n  email:\n    checks:\n      - not_null\n      - regex: {{pattern: '{pattern}'}}\n"
    root = write_project(
        tmp_path,
        {"models/staging/orders.sql": MODEL, "models/staging/orders.yml": sidecar},
    )
    for command in ("plan", "run", "test"):
        message = refused(root, command)
        assert "models/staging/orders.yml:5:" in message
        assert f"the pattern '{pattern}' is not a regular expression" in message
        assert reason in message  # brackets in the message are shown as written


def test_a_valid_regex_still_runs_and_reports_failures(tmp_path: Path) -> None:
    sidecar = "columns:\n  code:\n    checks:\n      - regex: {pattern: '^[0-9]+$'}\n"
    root = write_project(
        tmp_path,
        {"models/staging/orders.sql": MODEL, "models/staging/orders.yml": sidecar},
    )
    done = cli(root, "run")
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "staging.orders.code.regex" in done.stdout
