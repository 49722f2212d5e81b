"""Runs as data: specs in the metadata store, carried out by any process, retried and timed out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from headgate import Project
from headgate.console import Console
from headgate.plan.environments import Actor
from headgate.runtime.run import RunOptions
from headgate.runtime.service import RunService
from tests.support import write_project

FILES = {
    "models/raw/numbers.sql": "select range as n from range(100)",
    "models/marts/total.sql": "select sum(n) as total from raw.numbers",
    "models/marts/evens.sql": "select count(*) as evens from raw.numbers where n % 2 = 0",
}

FLAKY = """
from pathlib import Path
import pyarrow as pa
from headgate.errors import HeadgateError


class ServerBusy(HeadgateError):
    transient = True


def model(ctx):
    tries = Path(__file__).with_suffix(".tries")
    count = int(tries.read_text()) + 1 if tries.exists() else 1
    tries.write_text(str(count))
    if count < {fail_times} + 1:
        raise {error}("the upstream API answered 503")
    return pa.table({{"n": [count]}})
"""


def submit(root: Path) -> int:
    """Plan and submit a run in one process, without carrying it out."""
    with Project.load(root) as project:
        store = project.state
        run_id = store.start_run(
            environment="prod",
            command="run",
            selection=None,
            user="ci",
            host=socket.gethostname(),
            pid=os.getpid(),
            git_commit=None,
        )
        with project._engine(read_only=True) as engine:
            plan = project._plan(engine, "prod", nonce=str(run_id))
        RunService(project.loaded, store, Console(), project.checks).submit(plan, run_id)
        return run_id


def carry_out(root: Path, run_id: int) -> str:
    """Another process's view: nothing but the project folder and the run id."""
    with Project.load(root) as project, project._engine(read_only=False) as engine:
        service = RunService(project.loaded, project.state, Console(), project.checks)
        options = RunOptions(threads=2, actor=Actor("agent"), policy=project.retry_policy)
        result = service.carry_out(engine, run_id, options)
        project.state.finish_run(run_id, result.status, error=None, published=result.published)
        return result.status


def test_a_submitted_run_is_carried_out_from_its_specs_by_another_process(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    run_id = submit(root)
    with Project.load(root) as project:
        pending = project.state.get_run(run_id)
        assert pending is not None
        assert {t.name: t.status for t in pending.tasks} == dict.fromkeys(
            ["raw.numbers", "marts.total", "marts.evens"], "pending"
        )
        assert all(t.spec and t.spec["physical_table"] == t.physical_table for t in pending.tasks)
    code = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from tests.runtime.test_service import carry_out; "
            f"from pathlib import Path; print(carry_out(Path({str(root)!r}), {run_id}))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert code.stdout.strip() == "success", code.stderr
    with Project.load(root) as project:
        assert project.query("select total from marts.total").to_pylist() == [{"total": 4950}]
        done = project.state.get_run(run_id)
    assert done is not None and {t.status for t in done.tasks} == {"built"}


def test_a_killed_run_is_resumed_without_doing_its_finished_tasks_again(tmp_path: Path) -> None:
    files = {
        **FILES,
        "models/marts/slow.sql": (
            # seconds of work: hashing every number keeps DuckDB from counting the range at once
            "select count(*) as n from range(2000000000) where hash(range) >= 0"
        ),
    }
    root = write_project(tmp_path, files)
    run_id = submit(root)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from tests.runtime.test_service import carry_out; "
            f"from pathlib import Path; carry_out(Path({str(root)!r}), {run_id})",
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    deadline = time.monotonic() + 120  # only stops a hang
    with Project.load(root) as watching:  # opened once: the kill comes soon after the 3rd build
        while time.monotonic() < deadline:
            run = watching.state.get_run(run_id)
            assert run is not None
            if run.counts.get("built", 0) >= 3:
                break
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        assert run.status == "running" and run.counts.get("built") == 3, run.counts  # slow runs
    process.wait()
    (root / "models/marts/slow.sql").write_text(
        "select 1 as n"
    )  # the file changed; the spec did not
    assert carry_out(root, run_id) == "success"
    with Project.load(root) as project:
        run = project.state.get_run(run_id)
        assert run is not None
        built = {t.name for t in run.tasks if t.status == "built"}
        assert built == {"raw.numbers", "marts.total", "marts.evens", "marts.slow"}
        # the resumed run built what its spec said, from when it was planned
        assert project.query("select n from marts.slow").to_pylist() == [{"n": 2000000000}]


def test_a_transient_error_is_tried_again_and_a_terminal_one_is_not(tmp_path: Path) -> None:
    flaky = FLAKY.format(fail_times=2, error="ServerBusy")
    broken = FLAKY.format(fail_times=5, error="HeadgateError")
    root = write_project(
        tmp_path,
        {"models/api/flaky.py": flaky, "models/api/broken.py": broken},
        config="name: t\nretry_backoff: 0.01\nengine: {type: duckdb, path: .headgate/w.duckdb}\n",
    )
    with Project.load(root) as project:
        result = project.run(publish_partial=True)
        run = project.state.get_run(result.run_id)
        flaky_rows = project.query("select n from api.flaky").to_pylist()
    statuses = {t.name: t.status for t in result.tasks}
    assert statuses == {"api.flaky": "built", "api.broken": "failed"}
    assert flaky_rows == [{"n": 3}]  # third attempt: two transient failures, then success
    assert run is not None
    attempts = {t.name: t.attempts for t in run.tasks}
    assert attempts == {"api.flaky": 3, "api.broken": 1}  # a terminal error: no retry
    assert (root / "models/api/broken.tries").read_text() == "1"


def test_a_task_over_its_timeout_is_stopped_and_says_so(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {**FILES, "models/marts/slow.sql": "select count(*) as n from range(40000000000)"},
        config="name: t\ntask_timeout: 0.5\nengine: {type: duckdb, path: .headgate/w.duckdb}\n",
    )
    with Project.load(root) as project:
        result = project.run()
    slow = next(t for t in result.tasks if t.name == "marts.slow")
    assert slow.status == "failed"
    assert "ran longer than task_timeout (0.5 s)" in (slow.error or "")
    assert result.published is False
