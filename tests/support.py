"""Helpers for tests: write a project's files, run the real CLI as a user would.

``cli()`` runs ``headgate -p ROOT ARGS`` inside the test's process by default: the same
entry point (``headgate.cli.main.main``) with the same arguments, its output captured,
its exit turned into a return code, the environment applied and restored. Starting
Python and importing headgate for each of the suite's hundreds of commands cost
seconds apiece. ``cli(..., subprocess=True)`` starts a real process, for what needs
one: the installed entry point, exit codes as the shell sees them, signals.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess as subprocesses
import sys
import textwrap
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HEADGATE_YML = "name: test_project\nengine:\n  type: duckdb\n  path: .headgate/warehouse.duckdb\n"
COLUMNS = "200"
_IN_PROCESS = threading.Lock()  # one command at a time: it owns sys.argv, stdout and os.environ


def write_project(root: Path, files: dict[str, str], *, config: str = HEADGATE_YML) -> Path:
    """A project in ``root`` with headgate.yml and the given files (paths relative to root)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "headgate.yml").write_text(config)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def cli(
    root: Path,
    *args: str,
    check: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    subprocess: bool = False,
) -> subprocesses.CompletedProcess[str]:
    """Run ``headgate -p root ARGS`` and return its exit code, stdout and stderr.

    In this process by default; ``subprocess=True`` starts ``python -m headgate.cli.main``.
    ``timeout`` ends a hung process; in this process, a hung command is stopped by the
    limit every test has (``TEST_HANG_LIMIT`` in tests/conftest.py).
    """
    arguments = ["-p", str(root), *args]
    if subprocess:
        completed = subprocesses.run(
            [sys.executable, "-m", "headgate.cli.main", *arguments],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": COLUMNS, **(env or {})},
            timeout=timeout,
            check=False,
        )
    else:
        completed = _run_in_process(arguments, env or {})
    if check and completed.returncode != 0:
        raise AssertionError(
            f"headgate {' '.join(args)} exited {completed.returncode}\n"
            f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
        )
    return completed


def cli_json(
    root: Path, *args: str, env: dict[str, str] | None = None, subprocess: bool = False
) -> Any:
    completed = cli(root, *args, "--json", env=env, subprocess=subprocess)
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"not JSON ({exc}): exit {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
        ) from None


def statuses(result: dict[str, Any]) -> dict[str, str]:
    """Model name -> status from a ``run --json`` document."""
    return {m["name"]: m["status"] for m in result["models"]}


def _run_in_process(
    arguments: list[str], env: dict[str, str]
) -> subprocesses.CompletedProcess[str]:
    from headgate.cli import main as entry

    stdout, stderr = io.StringIO(), io.StringIO()
    files_before = _open_files()
    argv = [str(Path(sys.executable).with_name("headgate")), *arguments]
    environment = {"COLUMNS": COLUMNS, **env}
    with (
        _IN_PROCESS,
        _environment(environment),
        _fresh_terminals(int(environment["COLUMNS"])),
        _swapped(sys, "argv", argv),
        _swapped(sys, "excepthook", sys.excepthook),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            entry.main()
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code, stderr)
        except Exception:  # what a process would die of: its traceback on stderr, exit 1
            stderr.write(traceback.format_exc())
            code = 1
    left_open = _open_files() - files_before
    if left_open:  # the next command (or a test's own connection) would find them locked
        raise AssertionError(
            f"headgate {' '.join(arguments)} left files open: {', '.join(sorted(left_open))}"
        )
    return subprocesses.CompletedProcess(
        ["headgate", *arguments], code, stdout.getvalue(), stderr.getvalue()
    )


def _open_files() -> set[str]:
    """The regular files this process holds open (Linux; elsewhere nothing is checked)."""
    found = set()
    with contextlib.suppress(OSError):
        for descriptor in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{descriptor}")
                if target.startswith("/") and not target.startswith(("/dev/", "/proc/")):
                    found.add(target)
    return found


def _exit_code(code: object, stderr: io.StringIO) -> int:
    """``sys.exit(code)`` as the shell sees it: None is 0, a message goes to stderr as 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    stderr.write(f"{code}\n")
    return 1


@contextlib.contextmanager
def _environment(changes: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``changes`` for one command, then exactly as it was."""
    saved = dict(os.environ)
    os.environ.update(changes)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _swapped(owner: object, name: str, value: object) -> Iterator[None]:
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


@contextlib.contextmanager
def _fresh_terminals(columns: int) -> Iterator[None]:
    """The CLI's shared state as a new process has it: default options, plain output ``columns`` wide.

    The Rich terminals are made once, at import; a process with its output in a pipe has
    no colours and takes its width from COLUMNS, so each command gets exactly that.
    """
    from headgate.cli import common

    saved_options = (common.OPTIONS.project, common.OPTIONS.debug)
    common.OPTIONS.project, common.OPTIONS.debug = Path("."), False
    terminals = (common.out, common.err)
    saved = [(t._width, t._color_system, t._force_terminal) for t in terminals]
    for terminal in terminals:
        terminal.width = columns
        terminal._color_system = None
        terminal._force_terminal = False  # a pipe, as in a process whose output is captured
    try:
        yield
    finally:
        common.OPTIONS.project, common.OPTIONS.debug = saved_options
        for terminal, (width, colors, force) in zip(terminals, saved, strict=True):
            terminal._width, terminal._color_system, terminal._force_terminal = width, colors, force
