"""``headgate init``: an empty project with every folder a newcomer will need."""

from __future__ import annotations

from pathlib import Path

from headgate.errors import HeadgateError

HEADGATE_YML = """\
# The project: its name and where its data lives.
name: {name}
engine:
  type: duckdb
  path: .headgate/warehouse.duckdb
# Metadata store (runs, environments): SQLite in .headgate/ unless set here
# or in HEADGATE_STATE_URL, e.g. postgresql://user@host/db
# state_url: postgresql://...
default_environment: prod
"""

EXAMPLE_MODEL = """\
/* headgate:
materialized: table
description: An example model; replace it with your own.
*/
select 1 as id, 'hello' as greeting
"""

GITIGNORE = """\
# Local warehouse, metadata and caches: never committed.
.headgate/
"""

FOLDERS = ("models", "sources", "checks", "deliveries")


def scaffold(target: Path, *, name: str | None = None) -> list[Path]:
    """Create the project; refuses to touch a folder that already holds a project."""
    if (target / "headgate.yml").exists():
        raise HeadgateError(f"{target} already holds a project (headgate.yml exists)")
    target.mkdir(parents=True, exist_ok=True)
    project_name = name or _safe_name(target.resolve().name)
    written = [target / "headgate.yml", target / ".gitignore", target / "models" / "example.sql"]
    (target / "headgate.yml").write_text(HEADGATE_YML.format(name=project_name))
    for folder in FOLDERS:
        (target / folder).mkdir(exist_ok=True)
        written.append(target / folder)
    gitignore = target / ".gitignore"
    # bytes: an existing .gitignore may be in any encoding, and is kept as it is
    existing = gitignore.read_bytes() if gitignore.exists() else b""
    if b".headgate/" not in existing:
        gitignore.write_bytes(
            existing
            + (b"\n" if existing and not existing.endswith(b"\n") else b"")
            + GITIGNORE.encode()
        )
    (target / "models" / "example.sql").write_text(EXAMPLE_MODEL)
    for folder in ("sources", "checks", "deliveries"):
        keep = target / folder / ".gitkeep"
        keep.touch()
    return written


def _safe_name(raw: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in raw).strip("_-")
    return cleaned or "project"
