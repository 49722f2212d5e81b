"""SIGKILL at every step boundary of an incremental run, a deploy and a rollback.

The command is first run once listing its step boundaries (``HEADGATE_STEPS_FILE``);
then, from the same starting state each time, it is killed at the 1st, 2nd, ... of
them (``HEADGATE_STOP_AT``). After every kill a reader sees the old published state or
the new one, whole; the metadata store and the warehouse's views agree; and the next
command completes with no row lost or doubled.

Every command is a real process of its own, killed with SIGKILL; each is forked from one
that imported headgate once (forked_cli), so the dozens of them do not each pay the imports.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from headgate import Project
from tests.runtime.forked_cli import ForkedCli
from tests.runtime.test_isolation import FILES, published
from tests.support import write_project

pytestmark = pytest.mark.slow

State = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def headgate() -> Iterator[Callable[..., int]]:
    """``headgate(root, *args, env=...)``: the command's exit code, or minus its signal."""
    with ForkedCli() as cli:
        yield cli.run


def steps_of(headgate: Callable[..., int], start: Path, work: Path, args: list[str]) -> list[str]:
    listing = work.parent / "steps.txt"
    fresh_copy(start, work)
    assert headgate(work, *args, env={"HEADGATE_STEPS_FILE": str(listing)}) == 0
    steps = listing.read_text().splitlines()
    listing.unlink()
    return steps


def fresh_copy(start: Path, work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(start, work)


def views_agree_with_the_store(root: Path, environment: str = "prod") -> None:
    """Every model the store says is published is the view's target in the warehouse."""
    with Project.load(root) as project:
        project.status(environment)  # opening the warehouse finishes a committed publish
        pointers = project.state.env_models(environment)
    connection = duckdb.connect(str(root / ".headgate/warehouse.duckdb"), read_only=True)
    try:
        views = dict(
            connection.execute(
                "select schema_name || '.' || view_name, sql from duckdb_views() where not internal"
            ).fetchall()
        )
    finally:
        connection.close()
    for model, pointer in pointers.items():
        schema, _, table = model.rpartition(".")
        suffix = "" if environment == "prod" else f"__{environment}"
        definition = views[f"{schema}{suffix}.{table}"]
        target = definition.replace('"', "").rstrip(";").rsplit(" FROM ", 1)[1]
        assert target == pointer.physical_table, (model, definition)


def kill_at_every_step(
    headgate: Callable[..., int],
    start: Path,
    work: Path,
    args: list[str],
    old: State,
    new: State,
    read: Callable[[Path], State],
) -> None:
    steps = steps_of(headgate, start, work, args)
    assert len(steps) >= 3, steps
    seen = set()
    for index, name in enumerate(steps, start=1):
        fresh_copy(start, work)
        code = headgate(work, *args, env={"HEADGATE_STOP_AT": str(index)})
        assert code == -signal.SIGKILL, (index, name, code)
        now = read(work)
        assert now in (old, new), f"killed at step {index} ({name}): a mix was published"
        seen.add("old" if now == old else "new")
        views_agree_with_the_store(work)
        assert headgate(work, *args) == 0, f"after a kill at step {index} ({name})"
        assert read(work) == new, f"after a kill at step {index} ({name}) and a new try"
    assert seen == {"old", "new"}  # the kills fell on both sides of the publish


@pytest.fixture
def start(headgate: Callable[..., int], tmp_path: Path) -> Path:
    root = write_project(tmp_path / "start", FILES)
    assert headgate(root, "run", "--end", "2024-01-04") == 0
    return root


def test_an_incremental_run_killed_at_any_step(
    headgate: Callable[..., int], start: Path, tmp_path: Path
) -> None:
    old = published(start)
    ahead = tmp_path / "ahead"
    fresh_copy(start, ahead)
    assert headgate(ahead, "run", "--end", "2024-01-11") == 0
    new = published(ahead)
    assert old != new
    args = ["run", "--end", "2024-01-11", "--threads", "1"]
    kill_at_every_step(headgate, start, tmp_path / "work", args, old, new, published)


def test_a_deploy_and_a_rollback_killed_at_any_step(
    headgate: Callable[..., int], start: Path, tmp_path: Path
) -> None:
    old = published(start)
    assert headgate(start, "env", "create", "dev") == 0
    assert headgate(start, "run", "--env", "dev", "--end", "2024-01-11") == 0
    new = published(start, "dev")
    deploy = ["deploy", "--from", "dev", "--to", "prod"]
    kill_at_every_step(headgate, start, tmp_path / "work", deploy, old, new, published)

    deployed = tmp_path / "deployed"
    fresh_copy(start, deployed)
    assert headgate(deployed, "deploy", "--from", "dev", "--to", "prod") == 0
    with Project.load(deployed) as project:
        first = project.deployments("prod")[-1].id  # what the first run published
    # `--to` names the state to return to, so trying again after a kill is idempotent
    rollback = ["rollback", "prod", "--to", str(first)]
    kill_at_every_step(headgate, deployed, tmp_path / "work", rollback, new, old, published)


def test_a_publish_killed_after_the_swap_is_recorded_by_the_next_command(
    headgate: Callable[..., int], start: Path, tmp_path: Path
) -> None:
    """The warehouse committed the swap; the store had not heard: status tells the truth."""
    steps = steps_of(headgate, start, tmp_path / "listing", ["run", "--end", "2024-01-11"])
    swapped = steps.index("publish: views swapped") + 1
    work = tmp_path / "work"
    fresh_copy(start, work)
    code = headgate(work, "run", "--end", "2024-01-11", env={"HEADGATE_STOP_AT": str(swapped)})
    assert code == -signal.SIGKILL
    with Project.load(work) as project:
        status = project.status("prod")
        history = project.deployments("prod")
    assert published(work)["marts.summary"] == [(40, 10)]
    assert all(model.state != "not published" for model in status.models)
    assert history[0].kind == "run"
    views_agree_with_the_store(work)
    assert datetime.now() > datetime(2024, 1, 11)
