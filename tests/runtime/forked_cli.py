"""headgate commands in real processes forked from one that has imported headgate already.

Every command is a process of its own: its own memory, environment, exit code, killable
with SIGKILL at any point. It only starts from a parent that did the imports once (Python's
start-up and headgate's imports are most of a small command's time), as a fork server
does. For tests that start dozens of commands, such as killing one at every step.

What a module reads at import time (the terminal's width, whether output is a terminal)
it reads in the parent: the parent has the commands' base environment (``env``) and, like
a command run with its output captured, no terminal on its standard output or error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

# The parent: imports what a command imports, then forks a child per line it reads
# ({"args": [...], "env": {...}, "output": path or null}) and answers each with the child's
# exit code (minus the signal that ended it, as subprocess says). The child's standard
# output and error go to the file ``output`` names (else nowhere), its input is empty. A child runs `headgate <args>` as the console
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
        output = request["output"]
        written = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) if output else null
        os.dup2(null, 0)
        os.dup2(written, 1)
        os.dup2(written, 2)
        sys.argv = ["headgate", *request["args"]]
        headgate.cli.main.main()
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps(os.waitstatus_to_exitcode(status)) + "\n")
    replies.flush()
"""


class ForkedCli:
    """Runs ``headgate`` commands, each in a process forked from a ready parent."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.parent = subprocess.Popen(
            [sys.executable, "-c", PARENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
            env=self.env,
            cwd=Path(__file__).resolve().parents[2],  # the repository: `tests` importable
        )

    def run(
        self,
        root: Path,
        *args: str,
        env: dict[str, str] | None = None,
        output: Path | None = None,
    ) -> int:
        """``headgate -p root args`` with the base environment plus ``env``: its exit code,
        or minus the signal that ended it. Its output and errors go to ``output``, if given."""
        assert self.parent.stdin is not None and self.parent.stdout is not None
        request = {
            "args": ["-p", str(root), *args],
            "env": {**self.env, **(env or {})},
            "output": str(output) if output else None,
        }
        self.parent.stdin.write(json.dumps(request) + "\n")
        self.parent.stdin.flush()
        reply = self.parent.stdout.readline()
        if not reply:
            self.errors.seek(0)
            failure = self.errors.read().decode(errors="replace")[-2000:]
            raise AssertionError(f"the forked commands' parent ended: {failure}")
        code: int = json.loads(reply)
        return code

    def close(self) -> None:
        if self.parent.stdin is not None:
            self.parent.stdin.close()
        self.parent.wait(timeout=60)
        if self.parent.stdout is not None:
            self.parent.stdout.close()
        self.errors.close()

    def __enter__(self) -> ForkedCli:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
