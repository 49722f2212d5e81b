"""Named step boundaries, where tests stop a process dead to prove that nothing half-done shows.

Code that changes what readers see marks its steps with ``step("name")``. Normally that
costs one dictionary lookup. With ``HEADGATE_STOP_AT=N`` in the environment the process
kills itself with SIGKILL at the N-th step it reaches (no cleanup, no ``finally``: what a
power cut or the OOM killer does); with ``HEADGATE_STEPS_FILE=path`` it appends each
step's name to that file, so a test can count the boundaries and try every one.
"""

from __future__ import annotations

import os
import signal
import threading

_lock = threading.Lock()
_reached = 0


def step(name: str) -> None:
    """A boundary between two steps that each leave the warehouse and the store consistent."""
    stop_at = os.environ.get("HEADGATE_STOP_AT")
    listing = os.environ.get("HEADGATE_STEPS_FILE")
    if not stop_at and not listing:
        return
    global _reached
    with _lock:
        _reached += 1
        if listing:
            with open(listing, "a", encoding="utf-8") as file:
                file.write(name + "\n")
        if stop_at and _reached == int(stop_at):
            os.kill(os.getpid(), signal.SIGKILL)
