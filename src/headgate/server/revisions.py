"""Git revisions of the hub's project, each checked out in a worktree the hub owns.

A plan or a run may name a revision (a branch, a tag, a commit). The hub checks it out
with ``git worktree add`` under ``.headgate/worktrees/<commit>``, never in the folder
people work in, and links in what git does not keep (data files, the ``.headgate``
folder with the warehouse and the metadata store), so the revision's project reads and
writes the same environments as the hub's own. Each revision's project holds the hub's
open warehouse and store: it never opens them a second time.
"""

from __future__ import annotations

import subprocess
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError

if TYPE_CHECKING:
    from headgate.engines.base import Engine
    from headgate.facade import Project
    from headgate.state.store import StateStore

WORKTREES = Path(".headgate") / "worktrees"
KEPT_PROJECTS = 8  # revisions kept loaded; a worktree on disk is reused whenever asked again


class Revisions:
    def __init__(self, root: Path, engine: Engine, store: StateStore) -> None:
        self.root = root
        self.engine = engine
        self.store = store
        self._loaded: OrderedDict[str, Project] = OrderedDict()
        self._guard = threading.Lock()

    def commit_of(self, revision: str) -> str:
        """The commit a branch, tag or commit names; an error naming it when none."""
        if revision.startswith("-") or not revision.isprintable():
            raise _unknown(revision, self.root)
        found = _git(self.root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
        if found.returncode != 0 or not found.stdout.strip():
            raise _unknown(revision, self.root)
        return found.stdout.strip()

    def project(self, revision: str) -> Project:
        """The project as committed at ``revision``, holding the hub's warehouse and store."""
        from headgate.facade import Project
        from headgate.project.loader import load_project

        commit = self.commit_of(revision)
        with self._guard:
            if commit in self._loaded:
                self._loaded.move_to_end(commit)
                return self._loaded[commit]
            folder = self._checkout(commit)
            project = Project(load_project(folder))
            project.revision = revision
            project.hold(self.engine, store=self.store)
            self._loaded[commit] = project
            while len(self._loaded) > KEPT_PROJECTS:
                self._loaded.popitem(last=False)
            return project

    def _checkout(self, commit: str) -> Path:
        top = _git(self.root, "rev-parse", "--show-toplevel").stdout.strip()
        prefix = _git(self.root, "rev-parse", "--show-prefix").stdout.strip().rstrip("/")
        worktree = self.root / WORKTREES / commit[:16]
        if not (worktree / ".git").exists():
            worktree.parent.mkdir(parents=True, exist_ok=True)
            added = _git(Path(top), "worktree", "add", "--detach", "--force", str(worktree), commit)
            if added.returncode != 0:
                raise HeadgateError(
                    f"cannot check out revision {commit[:12]} of {self.root}: "
                    f"{added.stderr.strip()}",
                    hint="check that the project's git repository is readable and not locked",
                )
        folder = worktree / prefix if prefix else worktree
        if not (folder / "headgate.yml").is_file():
            raise HeadgateError(
                f"revision {commit[:12]} has no headgate.yml in {prefix or 'the repository root'}",
                hint="give a revision of this project",
            )
        for entry in self.root.iterdir():  # data files and .headgate: shared with the hub
            if entry.name == ".git" or (folder / entry.name).exists():
                continue
            (folder / entry.name).symlink_to(entry.resolve())
        return folder

    def close(self) -> None:
        with self._guard:
            self._loaded.clear()


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise HeadgateError(
            f"cannot run git in {cwd}: {exc}", hint="install git; the hub reads revisions with it"
        ) from None


def _unknown(revision: str, root: Path) -> HeadgateError:
    return HeadgateError(
        f"cannot read revision '{revision}' of {root}: no such branch, tag or commit",
        hint="give a branch, tag or commit of the project's git repository",
    )
