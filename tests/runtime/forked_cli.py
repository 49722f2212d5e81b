"""headgate commands in real processes forked from one that has imported headgate already.

Every command is a process of its own: its own memory, environment, exit code, killable
with SIGKILL at any point. It only starts from a parent that did the imports once (Python's
start-up and headgate's imports are most of a small command's time), as a fork server
does. For tests that start dozens of commands, such as killing one at every step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType

# The parent: imports what a command imports, then forks a child per line it reads
# ({"args": [...], "env": {...}}) and answers each with the child's exit code (minus the
# signal that ended it, as subprocess says). A child runs `headgate <args>` as the console
# script does and ends as a Python process ends (atexit, threads joined, buffers flushed).
PARENT = r"""
import json, os, sys
import headgate.cli.main, headgate.facade, headgate.runtime.run, headgate.plan.environments
replies = sys.stdout
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        sys.argv = ["headgate", *request["args"]]
        headgate.cli.main.main()
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps(os.waitstatus_to_exitcode(status)) + "\n")
    replies.flush()
"""


class ForkedCli:
    """Runs ``headgate`` commands, each in a process forked from a ready parent."""

    def __init__(self) -> None:
        self.parent = subprocess.Popen(
            [sys.executable, "-c", PARENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],  # the repository: `tests` importable
        )

    def run(self, root: Path, *args: str, env: dict[str, str] | None = None) -> int:
        """``headgate -p root args`` with os.environ plus ``env``: its exit code, or minus
        the signal that ended it."""
        assert self.parent.stdin is not None and self.parent.stdout is not None
        request = {"args": ["-p", str(root), *args], "env": {**os.environ, **(env or {})}}
        self.parent.stdin.write(json.dumps(request) + "\n")
        self.parent.stdin.flush()
        reply = self.parent.stdout.readline()
        assert reply, f"the parent of the forked commands ended ({self.parent.poll()})"
        code: int = json.loads(reply)
        return code

    def close(self) -> None:
        if self.parent.stdin is not None:
            self.parent.stdin.close()
        self.parent.wait(timeout=60)
        if self.parent.stdout is not None:
            self.parent.stdout.close()

    def __enter__(self) -> ForkedCli:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
