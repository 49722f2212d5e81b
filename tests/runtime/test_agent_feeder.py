"""An agent's feeder stopping while its hub cannot be reached: it says how many results
it could not report, counting those that finished while its last call went on."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest

from headgate.runtime.agent_http import HttpTransport
from tests.server.hubs import free_port

pytestmark = pytest.mark.fast


def test_results_finished_during_a_call_that_never_got_through_are_counted_as_unreported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    hub = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    transport = HttpTransport(hub, prefetch=4, wait=0.2, timeout=0.5)
    transport._lease = timedelta(seconds=1)  # a stopping call gives up after this long
    feeder = transport._feeder
    assert feeder is not None
    asking = threading.Thread(
        target=feeder.claim, args=("a1", {}, timedelta(seconds=1)), daemon=True
    )
    asking.start()  # the feeder calls the hub, and keeps trying
    deadline = time.monotonic() + 30  # only stops a hang
    while "unreachable" not in caplog.text:
        assert time.monotonic() < deadline, "the feeder never called the hub"
        time.sleep(0.02)
    feeder.finished({"lease_id": 7, "fence": 1, "ok": True})  # during that call
    left = feeder.close()  # gives up a lease's time after it is told to stop
    asking.join(timeout=30)
    transport._client.close()
    assert left == []
    assert "stopping without reporting 1 result(s)" in caplog.text
