"""Writing a file source's inferred contract back into its YAML file, comments and layout kept."""

from __future__ import annotations

import threading
from pathlib import Path

_WRITES = threading.Lock()  # one source file may hold several tables loaded at once


def pin_columns(path: Path, table: str, columns: dict[str, str]) -> None:
    """Set ``tables.<table>.columns`` in ``path`` to ``columns`` (a flow mapping, one line)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # keep a pinned contract on one line
    with _WRITES:
        document = yaml.load(path.read_text(encoding="utf-8"))
        entry = document["tables"][_key(document["tables"], table)]
        pinned = CommentedMap(columns)
        pinned.fa.set_flow_style()
        entry["columns"] = pinned
        temporary = path.with_suffix(path.suffix + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            yaml.dump(document, handle)
        temporary.replace(path)


def _key(tables: dict[str, object], table: str) -> str:
    return next((name for name in tables if str(name).lower() == table), table)
