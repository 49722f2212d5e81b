"""The project an agent builds a task with: its checkout, at the commit the run was planned at.

A run records the git commit it was planned at. An agent whose checkout is at that commit
builds from its work tree; one elsewhere builds from the commit itself (models, sources,
checks as committed: :func:`headgate.project.revision.materialize`), keeping its own
site's engine (the ``engine:`` of its checkout's headgate.yml), so a site's warehouse
and credentials stay the site's. A commit the checkout lacks is fetched once
(``git fetch``); still missing, the task fails saying which commit and what to do.

A commit's files are kept while a thread builds with them, and for the newest ``KEPT``
commits of a checkout after; older ones no thread uses are removed, and every folder
this process made goes when it stops (:func:`remove_made`, and at exit).
"""

from __future__ import annotations

import atexit
import dataclasses
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError

if TYPE_CHECKING:
    from headgate.facade import Project

FETCH_SECONDS = 120
KEPT = 4  # commits' folders kept per checkout once no thread uses them, the newest used


@dataclass
class _Folder:
    """A commit's files, materialized once, and how many threads build with them now."""

    path: Path
    users: int = 0


_folders: OrderedDict[tuple[Path, str], _Folder] = OrderedDict()  # least recently used first
_fetched: set[tuple[Path, str]] = set()
_guard = threading.Lock()


def checkout_at(root: Path, commit: str | None) -> Project:
    """The project in ``root`` as of ``commit`` (None or its HEAD: the work tree).

    A project at another commit holds that commit's folder until :func:`let_go`."""
    from headgate.facade import Project
    from headgate.project.loader import load_project

    here = Project.load(root)
    if commit is None or commit == head_of(here.root):
        return here
    key = (here.root.resolve(), commit)
    try:
        path = _take(key)
    except BaseException:
        here.close()
        raise
    try:
        loaded = load_project(path)
    except BaseException:
        here.close()
        _give_back(path)
        raise
    config = loaded.config.model_copy(update={"engine": here.loaded.config.engine})
    project = Project(dataclasses.replace(loaded, config=config), console=here.console)
    project.revision = commit
    here.close()
    return project


def let_go(project: Project) -> None:
    """A thread no longer builds with ``project``: its commit's folder may be removed
    (when it is not among its checkout's newest ``KEPT``)."""
    if project.revision is not None:
        _give_back(project.root)


def kept_folders(root: Path) -> list[Path]:
    """The commits' folders of the checkout ``root`` this process keeps now, oldest first."""
    with _guard:
        return [f.path for (checkout, _), f in _folders.items() if checkout == root.resolve()]


def remove_made() -> None:
    """Remove every commit's folder this process made (the agent stops)."""
    from headgate.project.revision import remove

    with _guard:
        made = [folder.path for folder in _folders.values()]
        _folders.clear()
    for path in made:
        remove(path)


atexit.register(remove_made)


def _take(key: tuple[Path, str]) -> Path:
    """The commit's folder, held for one more thread; one thread materializes a commit,
    the others wait and share it."""
    from headgate.project.revision import materialize

    with _guard:
        folder = _folders.get(key)
        if folder is None:
            _ensure_commit(*key)
            folder = _folders[key] = _Folder(materialize(*key))
        folder.users += 1
        _folders.move_to_end(key)
        stale = _unused_beyond_kept(key[0])
    _remove(stale)
    return folder.path


def _give_back(path: Path) -> None:
    with _guard:
        found = next((k for k, f in _folders.items() if f.path.resolve() == path.resolve()), None)
        if found is None:
            return
        folder = _folders[found]
        folder.users = max(0, folder.users - 1)
        stale = _unused_beyond_kept(found[0])
    _remove(stale)


def _unused_beyond_kept(root: Path) -> list[Path]:
    """The checkout's folders older than its newest ``KEPT``, no thread using them: taken
    out of the record (the caller holds the guard, and removes them after)."""
    mine = [key for key in _folders if key[0] == root]
    stale = []
    for key in mine[: max(0, len(mine) - KEPT)]:
        if _folders[key].users == 0:
            stale.append(_folders.pop(key).path)
    return stale


def _remove(paths: list[Path]) -> None:
    from headgate.project.revision import remove

    for path in paths:
        remove(path)


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
