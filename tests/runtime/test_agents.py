"""Agents take a run's tasks under fenced leases: a dead agent's task runs elsewhere, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from headgate import Project
from headgate.console import Console
from headgate.plan.environments import Actor
from headgate.runtime.agent import Agent, StoreTransport
from headgate.runtime.service import RunService
from headgate.state.store import StateStore
from tests.runtime.test_service import submit as submit_run
from tests.support import write_project

REPOSITORY = Path(__file__).resolve().parents[2]
FILES = {
    "models/raw/numbers.sql": "select range as n from range(1000)",
    "models/marts/slow.sql": (
        "select count(*) as n from raw.numbers, range(2500000) t(i) where n % 7 = i % 7"
    ),
    "models/marts/total.sql": "select sum(n) as total, count(*) as rows from raw.numbers",
    "models/marts/report.sql": "select s.n, t.total from marts.slow s, marts.total t",
}


def submit(root: Path, labels: dict[str, str]) -> int:
    """A run planned and submitted (tests/runtime/test_service.py), then queued for agents."""
    run_id = submit_run(root)
    with Project.load(root) as project:
        RunService(project.loaded, project.state, Console(), project.checks).distribute(
            run_id, labels
        )
    return run_id


def work_until_done(root: Path, run_id: int, agent: Agent, limit: float = 120) -> None:
    deadline = time.monotonic() + limit  # only stops a hang
    with StateStore.open(None, project_dir=root) as store:
        while time.monotonic() < deadline:
            states = store.queue_states(run_id)
            if all(state in ("done", "failed") for state in states.values()):
                return
            if agent.work_once() is None:
                time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {states}")


def publish(root: Path, run_id: int) -> bool:
    with Project.load(root) as project, project._engine(read_only=False) as engine:
        service = RunService(project.loaded, project.state, Console(), project.checks)
        return service.publish(engine, run_id, Actor("hub"))


def test_agents_carry_out_a_run_in_dag_order_and_the_hub_publishes_it(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    run_id = submit(root, {"site": "eu-west"})
    with StateStore.open(None, project_dir=root) as store:
        elsewhere = Agent("us-1", root, StoreTransport(store), labels={"site": "us-east"})
        assert elsewhere.work_once() is None  # prod's eu-west tasks are not for it
        agent = Agent("eu-1", root, StoreTransport(store), labels={"site": "eu-west"})
        assert agent.work_once() == "built"  # raw.numbers first: nothing else is ready
        assert store.queue_states(run_id)["raw.numbers"] == "done"
    work_until_done(root, run_id, agent)
    assert publish(root, run_id)
    with Project.load(root) as project:
        assert project.query("select total, rows from marts.total").to_pylist() == [
            {"total": 499500, "rows": 1000}
        ]


@pytest.mark.slow
def test_an_agent_killed_mid_task_is_replaced_and_the_run_publishes_once(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    run_id = submit(root, {"site": "eu-west"})
    worker = (
        "import sys, threading; from datetime import timedelta; from pathlib import Path\n"
        "from headgate.state.store import StateStore\n"
        "from headgate.runtime.agent import Agent, StoreTransport\n"
        f"root = Path({str(root)!r})\n"
        "store = StateStore.open(None, project_dir=root)\n"
        "agent = Agent('doomed', root, StoreTransport(store), labels={'site': 'eu-west'},"
        " lease=timedelta(seconds=2))\n"
        "agent.run(threading.Event())\n"
    )
    doomed = subprocess.Popen([sys.executable, "-c", worker], cwd=REPOSITORY)
    try:
        deadline = time.monotonic() + 120  # only stops a hang
        with StateStore.open(None, project_dir=root) as store:
            while time.monotonic() < deadline:
                if store.queue_states(run_id).get("marts.slow") == "leased":
                    break
                time.sleep(0.05)
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait()
            agent = Agent(
                "rescuer",
                root,
                StoreTransport(store),
                labels={"site": "eu-west"},
                lease=timedelta(seconds=2),
            )
            work_until_done(root, run_id, agent)  # fails if the task is not taken over
            attempts = store.queue_attempts(run_id)
            states = store.queue_states(run_id)
    finally:
        doomed.kill()
    assert set(states.values()) == {"done"}
    assert attempts["marts.slow"] == 2  # the dead agent's attempt, then the rescuer's
    assert publish(root, run_id)
    with Project.load(root) as project:
        deployments = [d for d in project.deployments("prod") if d.run_id == run_id]
        rows = project.query("select count(*) as c from marts.report").to_pylist()
    assert len(deployments) == 1  # published exactly once
    assert rows == [{"c": 1}]


def test_a_result_with_a_stale_token_is_refused(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    run_id = submit(root, {})
    with StateStore.open(None, project_dir=root) as store:
        first = store.claim_task("cut-off", {}, timedelta(milliseconds=1))
        assert first is not None and first.task == "raw.numbers"
        time.sleep(0.05)
        assert store.expire_leases() == [first.id]  # its lease ran out: back in the queue
        second = store.claim_task("healthy", {}, timedelta(seconds=30))
        assert second is not None and second.id == first.id and second.fence == first.fence + 1
        assert store.heartbeat_task(first.id, first.fence, timedelta(seconds=30)) == (False, False)
        assert store.complete_task(first.id, first.fence, ok=True) is False  # refused
        assert store.complete_task(second.id, second.fence, ok=True) is True
        assert store.queue_states(run_id)["raw.numbers"] == "done"


def test_cancel_reaches_a_leased_task_through_its_heartbeat(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    run_id = submit(root, {})
    with StateStore.open(None, project_dir=root) as store:
        lease = store.claim_task("a", {}, timedelta(seconds=30))
        assert lease is not None
        store.cancel_queued(run_id)
        assert store.heartbeat_task(lease.id, lease.fence, timedelta(seconds=30)) == (True, True)
        assert store.queue_states(run_id)["marts.total"] == "cancelled"


@pytest.mark.services
def test_on_postgresql_concurrent_claims_never_hand_out_a_task_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    schema = f"hg_queue_{os.getpid()}_{int(time.time())}"
    with StateStore.open(postgres_url, project_dir=tmp_path, schema=schema) as store:
        store.enqueue_tasks(1, [(f"t{i}", {}, []) for i in range(40)])
        taken: list[str] = []
        guard = threading.Lock()

        def agent() -> None:
            while (lease := store.claim_task("a", {}, timedelta(seconds=30))) is not None:
                with guard:
                    taken.append(lease.task)

        threads = [threading.Thread(target=agent) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with store.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    assert sorted(taken) == sorted(f"t{i}" for i in range(40))
