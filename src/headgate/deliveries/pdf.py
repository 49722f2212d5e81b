"""Printing a report's HTML to PDF with a headless Chromium, where the machine has one.

A PDF engine is a large system package, not a Python dependency, so headgate looks
for one and says clearly when there is none instead of failing the report. The
browser gets a throw-away profile, no network side-tasks, and is killed with all
its helper processes if it does not finish in time. ``HEADGATE_CHROMIUM`` names
the binary to use (a Chrome, say); set it empty to never print PDFs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from headgate.deliveries.files import atomic_write
from headgate.errors import HeadgateError

ENV_VAR = "HEADGATE_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers give /dev/shm a few MB
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
    "--print-to-pdf-no-header",  # the same, as Chromium before 120 spells it
)


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary to print with, or None when the machine has none."""
    configured = os.environ.get(ENV_VAR)
    if configured is not None:
        return shutil.which(configured.strip()) if configured.strip() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_engine_note() -> str:
    if os.environ.get(ENV_VAR, None) == "":
        return f"PDF printing is turned off ({ENV_VAR} is empty)"
    if os.environ.get(ENV_VAR):
        return f"{ENV_VAR}={os.environ[ENV_VAR]} is not an executable"
    return "no Chromium found to print it (install chromium, or set HEADGATE_CHROMIUM)"


def print_pdf(html: Path, pdf: Path, *, chromium: str, timeout: float = 120.0) -> None:
    """Print ``html`` to ``pdf`` (replaced atomically); raises HeadgateError when it cannot."""
    with (
        tempfile.TemporaryDirectory(prefix="headgate-chromium-") as profile,
        atomic_write(pdf) as temporary,
    ):
        command = [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={temporary}",
            html.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        _run(command, timeout)
        with temporary.open("rb") as printed:
            if printed.read(5) != b"%PDF-":
                raise HeadgateError(f"{chromium} ran but wrote no PDF")


def _run(command: list[str], timeout: float) -> None:
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: a timeout ends every helper too
        )
    except OSError as exc:
        raise HeadgateError(f"cannot start {command[0]}: {exc.strerror}") from None
    try:
        _, errors = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise HeadgateError(f"{command[0]} did not finish printing within {timeout:.0f}s") from None
    if process.returncode != 0:
        lines = [line for line in errors.splitlines() if line.strip()]
        reason = lines[-1] if lines else "no message"
        raise HeadgateError(f"{command[0]} could not print (exit {process.returncode}): {reason}")
