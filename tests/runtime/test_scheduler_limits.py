"""A schedule whose runs take longer than its period: its concurrency limit holds, and the
slots that come due meanwhile wait, queued, instead of piling runs up."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from headgate.state.store import StateStore
from tests.support import write_project

pytestmark = pytest.mark.slow

CONFIG = """
name: slow
schedules:
  - {name: every_second, cron: '* * * * * *', catch_up: all, max_concurrent: 1, retries: 0}
"""

FILES = {
    "models/one.sql": "select 1 as x",
    "steps/slow_export.yml": "shell: sleep 2.5\nupstream: [one]\n",  # each run takes > 2 s
}


def test_runs_longer_than_the_period_never_overlap_and_later_slots_wait(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES, config=CONFIG)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "headgate.cli.main", "-p", str(root), "scheduler"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120  # only stops a hang (a busy machine is slower)
        while len(_runs(root)) < 3:
            assert scheduler.poll() is None, scheduler.stderr.read() if scheduler.stderr else ""
            assert time.monotonic() < deadline, "three runs never started"
            time.sleep(0.2)
    finally:
        scheduler.send_signal(signal.SIGINT)
        try:
            scheduler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            scheduler.kill()
    runs = _runs(root)
    with StateStore.open(None, project_dir=root) as store:
        slots = store.schedule_slots("every_second")
    for earlier, later in pairwise(runs):  # one at a time: each started after the last ended
        assert earlier.ended_at is not None and later.started_at >= earlier.ended_at
    states = [s.state for s in slots]
    assert len(runs) <= states.count("started") <= len(runs) + 1  # (+1: stopped mid-launch)
    assert states.count("queued") >= 3  # due while a run went on: waiting, not skipped
    assert "skipped" not in states[1:]


def _runs(root: Path) -> list[Any]:
    with StateStore.open(None, project_dir=root) as store:
        found = [r for r in store.list_runs(limit=100) if r.user == "schedule every_second"]
    return sorted(found, key=lambda r: r.id)
