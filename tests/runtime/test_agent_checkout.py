"""The files of other commits an agent builds from: kept for the newest few commits, removed
when no thread uses them any more, and all gone when the agent's process ends.

A real git repository with real commits; each commit's files are the folders
``git archive`` fills (project/revision.py), checked on disk.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from headgate.runtime import agent_checkout
from headgate.runtime.agent_checkout import checkout_at, kept_folders, let_go, remove_made
from tests.server.hubs import git
from tests.support import write_project

KEPT = agent_checkout.KEPT
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    remove_made()
    yield
    remove_made()


def repository(root: Path, commits: int) -> tuple[Path, list[str]]:
    """A project with ``commits`` commits (a model's number each), and a file that is not
    committed (data); the ids of the commits, oldest first."""
    write_project(root, {"models/m/n.sql": "select 0 as n", "data/kept.csv": "n\n1\n"})
    (root / ".gitignore").write_text("data/\n.headgate/\n")
    (root / ".headgate").mkdir()
    (root / ".headgate/marker").write_text("the work tree's own")
    git(root, "init", "-q", "-b", "main")
    ids = []
    for number in range(commits):
        (root / "models/m/n.sql").write_text(f"select {number} as n")
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", f"n is {number}")
        ids.append(git(root, "rev-parse", "HEAD").strip())
    return root, ids


def model_sql(project_root: Path) -> str:
    return (project_root / "models/m/n.sql").read_text()


def test_only_the_newest_commits_folders_stay_once_no_thread_uses_them(tmp_path: Path) -> None:
    root, ids = repository(tmp_path / "checkout", KEPT + 3)
    older = ids[:-1]  # the last is the work tree's HEAD: built from the work tree itself
    held = checkout_at(root, older[0])  # a thread builds with the oldest all along
    held_folder = held.root
    folders = {}
    for commit in older[1:]:
        project = checkout_at(root, commit)
        folders[commit] = project.root
        assert model_sql(project.root) == f"select {ids.index(commit)} as n"
        project.close()
        let_go(project)
    newest = older[-KEPT:]
    # the oldest is in use: kept though past the newest few; the unused older ones are gone
    assert held_folder.exists() and model_sql(held_folder) == "select 0 as n"
    assert [c for c in older[1:] if folders[c].exists()] == [c for c in newest if c in folders]
    assert set(kept_folders(root)) == {held_folder} | {folders[c] for c in newest}

    held.close()
    let_go(held)  # the thread is done with it: it is older than the newest few
    assert not held_folder.exists()
    assert set(kept_folders(root)) == {folders[c] for c in newest}
    # the work tree's own files, linked into each commit's folder, are untouched
    assert (root / ".headgate/marker").read_text() == "the work tree's own"
    assert (root / "data/kept.csv").read_text() == "n\n1\n"

    again = checkout_at(root, older[0])  # an old commit asked for again is materialized anew
    assert model_sql(again.root) == "select 0 as n"
    again.close()
    let_go(again)


def test_threads_building_the_same_commit_share_its_folder_until_the_last_lets_go(
    tmp_path: Path,
) -> None:
    root, ids = repository(tmp_path / "checkout", KEPT + 3)
    shared = ids[0]
    taken: list[Path] = []
    ready, finish = threading.Barrier(3), threading.Event()

    def build() -> None:
        project = checkout_at(root, shared)
        taken.append(project.root)
        ready.wait(timeout=30)
        finish.wait(timeout=30)
        project.close()
        let_go(project)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=30)
    for commit in ids[1:-1]:  # newer commits built meanwhile push the shared one out
        project = checkout_at(root, commit)
        project.close()
        let_go(project)
    assert len(set(taken)) == 1 and taken[0].exists()  # one folder, both threads on it
    finish.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not taken[0].exists()


def test_a_stopping_agents_process_removes_every_commits_folder_it_made(tmp_path: Path) -> None:
    root, ids = repository(tmp_path / "checkout", 3)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from headgate.runtime.agent_checkout import checkout_at\n"
        "for commit in sys.argv[2:]:\n"
        "    project = checkout_at(Path(sys.argv[1]), commit)\n"
        "    print(project.root, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(root), *ids[:2]],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    made = [Path(line) for line in done.stdout.splitlines()]
    assert len(made) == 2 and all(str(path).startswith("/") for path in made)
    assert not [path for path in made if path.exists()]  # still held, yet removed at exit
    assert (root / ".headgate/marker").exists()
