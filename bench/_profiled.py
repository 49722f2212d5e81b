"""Run a headgate command (``headgate serve``) with every thread under cProfile.

    python bench/_profiled.py OUT.prof -p project serve --port 8000

Each thread gets a profiler of its own when it starts; on SIGTERM or SIGINT the
profiles are merged and written to OUT.prof (read with ``python -m pstats OUT.prof``).
Used by ``bench/agents.py --profile`` to see where the hub spends its time per task.
"""

from __future__ import annotations

import cProfile
import pstats
import runpy
import signal
import sys
import threading
from types import FrameType
from typing import Any

profiles: list[cProfile.Profile] = []
guard = threading.Lock()


def start_in_thread(frame: FrameType, event: str, arg: Any) -> None:
    profile = cProfile.Profile()
    with guard:
        profiles.append(profile)
    profile.enable()


def dump(out: str) -> None:
    merged: pstats.Stats | None = None
    with guard:
        taken = list(profiles)
    for profile in taken:
        try:
            profile.create_stats()
            merged = pstats.Stats(profile) if merged is None else merged.add(profile)
        except Exception:  # a profile that never saw a call has nothing to add
            continue
    if merged is not None:
        merged.dump_stats(out)


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    sys.argv = ["headgate", *args]

    def stop(signum: int, frame: FrameType | None) -> None:
        dump(out)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    threading.setprofile(start_in_thread)
    main_profile = cProfile.Profile()
    profiles.append(main_profile)
    main_profile.enable()
    try:
        runpy.run_module("headgate.cli.main", run_name="__main__", alter_sys=True)
    finally:
        dump(out)


if __name__ == "__main__":
    main()
