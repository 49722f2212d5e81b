"""Two hub replicas on one metadata store: one observer acts at a time, so each alert is
sent once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.observe.observing import Clock, observed_project, webhook_receiver

pytestmark = pytest.mark.fast


def test_observers_of_two_replicas_send_each_notice_once(tmp_path: Path) -> None:
    from headgate.facade import Project
    from headgate.observe.events import RunStatusEvent
    from headgate.observe.observer import OBSERVER_LOCK, Observer

    with webhook_receiver() as receiver:
        config = f"""
observe:
  rules:
    - name: failures
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      actions: [{{webhook: {{url: "{receiver.url}/hook", body: "{{component}}"}}}}]
"""
        root = observed_project(tmp_path / "p", config)
        clock = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
        with Project.load(root) as first, Project.load(root) as second:
            replicas = [Observer(first, clock=clock), Observer(second, clock=clock)]
            first.post_events(
                [
                    RunStatusEvent(pipeline_key=f"job{i}", run_key="r", status="FAILED").to_event()
                    for i in range(20)
                ]
            )
            # while another process observes, a replica's round does nothing
            held = second.state.acquire_lock(OBSERVER_LOCK, wait=False, heartbeat_every=None)
            assert replicas[0].tick() == {"queued": 0, "sent": 0}
            held.release()
            threads = [threading.Thread(target=o.tick) for o in replicas for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sent = sorted(r.body.decode() for r in receiver.at("/hook"))
            assert sent == sorted(f"job{i}" for i in range(20))
