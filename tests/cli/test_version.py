"""``headgate --version`` answers like ``--help`` lists it: the version, exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from headgate import __version__


def test_version_prints_the_version_and_exits_0(tmp_path: Path) -> None:
    for args in (["--version"], ["-p", str(tmp_path), "--version"]):
        done = subprocess.run(
            [sys.executable, "-m", "headgate.cli.main", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"headgate {__version__}"
        assert "Missing command" not in done.stderr
