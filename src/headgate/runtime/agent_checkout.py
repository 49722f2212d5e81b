"""The project an agent builds a task with: its checkout, at the commit the run was planned at.

A run records the git commit it was planned at. An agent whose checkout is at that commit
builds from its work tree; one elsewhere builds from the commit itself (models, sources,
checks as committed: :func:`headgate.project.revision.materialize`), keeping its own
site's engine (the ``engine:`` of its checkout's headgate.yml), so a site's warehouse
and credentials stay the site's. A commit the checkout lacks is fetched once
(``git fetch``); still missing, the task fails saying which commit and what to do.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError

if TYPE_CHECKING:
    from headgate.facade import Project

FETCH_SECONDS = 120

_materialized: dict[tuple[Path, str], Path] = {}  # (checkout, commit) -> its files
_fetched: set[tuple[Path, str]] = set()
_guard = threading.Lock()


def checkout_at(root: Path, commit: str | None) -> Project:
    """The project in ``root`` as of ``commit`` (None or its HEAD: the work tree)."""
    from headgate.facade import Project
    from headgate.project.loader import load_project

    here = Project.load(root)
    if commit is None or commit == head_of(here.root):
        return here
    with _guard:  # one thread materializes a commit; the others wait and share it
        key = (here.root, commit)
        path = _materialized.get(key)
        if path is None:
            _ensure_commit(here.root, commit)
            from headgate.project.revision import materialize

            path = materialize(here.root, commit)
            _materialized[key] = path
    loaded = load_project(path)
    config = loaded.config.model_copy(update={"engine": here.loaded.config.engine})
    project = Project(dataclasses.replace(loaded, config=config), console=here.console)
    project.revision = commit
    here.close()
    return project


def head_of(root: Path) -> str | None:
    return _git(root, "rev-parse", "HEAD")


def _ensure_commit(root: Path, commit: str) -> None:
    if _git(root, "cat-file", "-e", f"{commit}^{{commit}}") is not None:
        return
    if (root, commit) not in _fetched:
        _fetched.add((root, commit))
        _git(root, "fetch", "--quiet", timeout=FETCH_SECONDS)
        if _git(root, "cat-file", "-e", f"{commit}^{{commit}}") is not None:
            return
    raise HeadgateError(
        f"the run was planned at commit {commit}, which this agent's checkout {root} does "
        "not have (git fetch did not bring it)",
        hint="push that commit to the remote the checkout fetches from, or check it out "
        "in the agent's checkout, then run the task again",
    )


def _git(root: Path, *args: str, timeout: float = 10) -> str | None:
    """git's output, or None when it failed (no repository, no such object)."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
