"""Finding a project: the nearest folder holding headgate.yml (no parsing, nothing heavy)."""

from __future__ import annotations

from pathlib import Path

from headgate.errors import HeadgateError

CONFIG_FILE = "headgate.yml"


def find_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding headgate.yml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise HeadgateError(
        f"no {CONFIG_FILE} in {start} or any folder above it",
        hint="run inside a project, pass --project DIR, or create one with `headgate init DIR`",
    )
