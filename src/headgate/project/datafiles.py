"""Data files that no file source reads: a new export dropped beside the others, but under a
name the source's path or glob does not match, would otherwise be ignored without a word.

Only files with a data extension count, and only in the folders file sources read from
(the part of each path before its first wildcard; the whole tree below it when the
wildcard is in a folder name, as in ``data/**/*.csv``).
"""

from __future__ import annotations

import os
from pathlib import Path

from headgate.project.loader import LoadedProject

DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".ndjson", ".jsonl")
COMPRESSED_SUFFIXES = ("", ".gz", ".zst")
WILDCARDS = ("*", "?", "[")


def unread_data_files(project: LoadedProject) -> list[str]:
    """Data files (relative to the project) in a source's folder that no file source matches."""
    root = project.root
    read: set[str] = set()
    folders: dict[Path, bool] = {}  # folder -> whether its subfolders are read too
    for source in project.sources.values():
        if source.external:
            continue
        read.update(relative for relative, _, _ in source.files)
        folder, recursive = _folder_of(source.config.path)
        folder = (root / folder).resolve()
        if folder.is_relative_to(root) and folder != root:
            folders[folder] = folders.get(folder, False) or recursive
    found = {
        os.path.relpath(path, root)
        for folder, recursive in folders.items()
        for path in _data_files(folder, recursive)
    }
    return sorted(found - read)


def _folder_of(pattern: str) -> tuple[Path, bool]:
    """The folder a path or glob reads from, and whether it reaches into subfolders."""
    parts = Path(pattern).parts
    for index, part in enumerate(parts):
        if any(w in part for w in WILDCARDS):
            return Path(*parts[:index]) if index else Path("."), index < len(parts) - 1
    return Path(pattern).parent, False


def _data_files(folder: Path, recursive: bool) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")] if recursive else []
        found.extend(
            os.path.join(dirpath, name)
            for name in filenames
            if not name.startswith(".") and _is_data(name)
        )
    return found


def _is_data(name: str) -> bool:
    lowered = name.lower()
    return any(
        lowered.endswith(data + packed) for data in DATA_SUFFIXES for packed in COMPRESSED_SUFFIXES
    )
