"""Helpers for tests: write a project's files, run the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

HEADGATE_YML = "name: test_project\nengine:\n  type: duckdb\n  path: .headgate/warehouse.duckdb\n"


def write_project(root: Path, files: dict[str, str], *, config: str = HEADGATE_YML) -> Path:
    """A project in ``root`` with headgate.yml and the given files (paths relative to root)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "headgate.yml").write_text(config)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def cli(
    root: Path,
    *args: str,
    check: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``headgate -p root ARGS`` as a user would, in a fresh process."""
    command = [sys.executable, "-m", "headgate.cli.main", "-p", str(root), *args]
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    completed = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=timeout, check=False
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"headgate {' '.join(args)} exited {completed.returncode}\n"
            f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
        )
    return completed


def cli_json(root: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    completed = cli(root, *args, "--json", env=env)
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"not JSON ({exc}): exit {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
        ) from None


def statuses(result: dict[str, Any]) -> dict[str, str]:
    """Model name -> status from a ``run --json`` document."""
    return {m["name"]: m["status"] for m in result["models"]}
