"""A project as it was at a git revision, for plans made against a branch or a commit.

Only what git keeps is taken from the revision (headgate.yml, models, sources,
checks, deliveries); everything else (data files, the local .headgate folder with
the warehouse and the metadata store) is linked from the working tree, so the plan
reads the same environments as any other command.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from headgate.errors import HeadgateError

FROM_GIT = ("headgate.yml", "models", "sources", "checks", "deliveries")
TEMP_PREFIX = "headgate-rev-"


def materialize(root: Path, revision: str) -> Path:
    """A temporary folder holding the project at ``revision``; the caller removes it."""
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        raise HeadgateError(
            f"cannot read revision '{revision}' of {root}: no such branch, tag or commit",
            hint="give a branch, tag or commit of the project's git repository",
        )
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, "--", *_tracked(root, revision)],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        raise HeadgateError(
            f"cannot read revision '{revision}' of {root}: {stderr.decode(errors='replace').strip() or exc}",
            hint="give a branch, tag or commit of the project's git repository",
        ) from None
    target = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    with tarfile.open(fileobj=io.BytesIO(archive)) as bundle:
        bundle.extractall(target, filter="data")
    prefix = _prefix(root)
    project = target / prefix if prefix else target
    for entry in root.iterdir():
        if entry.name not in FROM_GIT and not (project / entry.name).exists():
            (project / entry.name).symlink_to(entry.resolve())
    return project


def remove(project: Path) -> None:
    """Remove the folder :func:`materialize` made for ``project`` (its temporary folder,
    the project's own or a parent of it); the links to the working tree go, what they
    point at stays."""
    top = next((p for p in (project, *project.parents) if p.name.startswith(TEMP_PREFIX)), None)
    if top is not None and top.parent.resolve() == Path(tempfile.gettempdir()).resolve():
        shutil.rmtree(top, ignore_errors=True)


def _prefix(root: Path) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--show-prefix"], cwd=root, capture_output=True, text=True, check=False
    )
    return done.stdout.strip().rstrip("/")


def _tracked(root: Path, revision: str) -> list[str]:
    prefix = _prefix(root)
    names = []
    for name in FROM_GIT:
        path = f"{prefix}/{name}" if prefix else name
        found = subprocess.run(
            ["git", "cat-file", "-e", f"{revision}:{path}"],
            cwd=root,
            capture_output=True,
            check=False,
        )
        if found.returncode == 0:
            names.append(path)
    if not names:
        raise HeadgateError(
            f"revision '{revision}' has no headgate project at {prefix or 'the top'}"
        )
    return names
