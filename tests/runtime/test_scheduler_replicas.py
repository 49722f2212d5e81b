"""The hub runs the schedules: two `headgate serve` replicas on one PostgreSQL store, one
schedules; killed with SIGKILL, the other takes over, and no slot runs twice or is skipped."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from headgate.state.store import StateStore
from tests.server.hubs import free_port
from tests.support import write_project

pytestmark = [pytest.mark.services, pytest.mark.slow]

EVERY = 2  # seconds between two slots


def _config(postgres_url: str, prefix: str) -> str:
    return (
        "name: replicas\n"
        f"engine: {{type: postgres, url: '{postgres_url}', schema_prefix: {prefix}}}\n"
        "schedules:\n"
        f"  - {{name: often, cron: '* * * * * */{EVERY}', catch_up: all, max_concurrent: 1}}\n"
    )


@contextmanager
def _hub(
    root: Path, env: dict[str, str], log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headgate.cli.main",
                "-p",
                str(root),
                "serve",
                "--port",
                str(port),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _answers(url), 60, f"the hub on {url} to answer (log: {log})")
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/project", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _until(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        time.sleep(0.2)


def _runs_by_pid(store: StateStore) -> list[tuple[int, int | None]]:
    """(run id, pid of the process that ran it) of each scheduled run, oldest first."""
    runs = store.list_runs(limit=1000)
    return sorted((r.id, r.pid) for r in runs if (r.user or "").startswith("schedule "))


def test_one_hub_schedules_and_the_other_takes_over_when_it_is_killed(
    tmp_path: Path, postgres_url: str, pg_schema: str, pg_prefix: str
) -> None:
    root = write_project(
        tmp_path / "project",
        {"models/one.sql": "select 1 as x"},
        config=_config(postgres_url, pg_prefix),
    )
    env = {**os.environ, "HEADGATE_STATE_URL": postgres_url, "HEADGATE_STATE_SCHEMA": pg_schema}
    with StateStore.open(postgres_url, project_dir=root, schema=pg_schema) as store:
        with _hub(root, env, tmp_path / "a.log") as (first, _):
            _until(lambda: len(_runs_by_pid(store)) >= 3, 60, "the first hub's scheduled runs")
            with _hub(root, env, tmp_path / "b.log") as (second, _):
                time.sleep(3 * EVERY)  # both replicas up: still only the first schedules
                before_kill = _runs_by_pid(store)
                assert {pid for _, pid in before_kill} == {first.pid}
                os.kill(first.pid, signal.SIGKILL)
                first.wait()
                _until(
                    lambda: sum(pid == second.pid for _, pid in _runs_by_pid(store)) >= 3,
                    60,
                    "the second hub to take the schedule over",
                )
        slots = store.schedule_slots("often")
        runs = _runs_by_pid(store)
    pids = [pid for _, pid in runs]
    taken_over = pids.index(second.pid)
    assert set(pids[:taken_over]) == {first.pid} and set(pids[taken_over:]) == {second.pid}
    times = [s.slot_at for s in slots]
    assert all(b - a == timedelta(seconds=EVERY) for a, b in itertools.pairwise(times))
    assert not [s for s in slots if s.state == "skipped"]  # none missed while the leader died
    ran = [s.run_id for s in slots if s.run_id is not None]
    assert len(ran) == len(set(ran)) == len(runs)  # one run per slot, one slot per run
