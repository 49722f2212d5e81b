"""``headgate agent``: a process in a site that pulls the hub's tasks and carries them out."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import timedelta
from typing import Annotated, Any

import typer

from headgate.cli.common import OPTIONS, err, out
from headgate.errors import HeadgateError


def agent(
    hub: Annotated[
        str | None, typer.Option("--hub", envvar="HEADGATE_HUB", help="The hub's URL.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="HEADGATE_TOKEN", help="API token (sent as Authorization: Bearer)."
        ),
    ] = None,
    labels: Annotated[
        str,
        typer.Option("--labels", help="What this agent serves: site=eu-west,env=prod"),
    ] = "",
    capacity: Annotated[int, typer.Option("--capacity", min=1, max=256, help="Tasks at once.")] = 1,
    name: Annotated[
        str | None, typer.Option("--name", help="Its name at the hub (default: host-pid).")
    ] = None,
    lease: Annotated[
        float, typer.Option("--lease", min=1, help="Seconds a task is held between heartbeats.")
    ] = 30.0,
    wait: Annotated[
        float, typer.Option("--wait", min=0, max=120, help="Seconds one request waits for work.")
    ] = 20.0,
    prefetch: Annotated[
        int,
        typer.Option(
            "--prefetch",
            min=0,
            max=256,
            help="Tasks kept in hand at most beyond --capacity: a freed slot begins its "
            "next task at once, and results and tasks go to and from the hub in batches "
            "(fewer calls, less work at the hub per task). How many are kept follows how "
            "long tasks and calls take: none when tasks are much longer than a call, and "
            "none are handed out to keep while another agent waits for work. 0: one call "
            "per task.",
        ),
    ] = 16,
) -> None:
    """Take tasks from the hub for which --labels qualify, and build them in this site.

    The agent calls the hub (long polling: nothing reaches in, so it works behind a
    firewall), holds each task under a lease it renews with heartbeats, sends the task's
    output back as it runs and reports the result. It builds with the project checkout
    here (-p), at the commit the run was planned at, with the engine its headgate.yml
    names for this site; it reads and writes the metadata store only through the hub
    (the checkout's state: is never opened). The environment's secrets come with each
    task and stay in memory. Stop it with Ctrl-C
    or SIGTERM: the tasks it holds are finished first (a second signal stops it at once).
    """
    from headgate.facade import Project
    from headgate.runtime.agent import Agent
    from headgate.runtime.agent_checkout import remove_made
    from headgate.runtime.agent_http import HttpTransport

    url = hub or OPTIONS.hub
    if not url:
        raise HeadgateError(
            "headgate agent needs the hub's URL", hint="pass --hub URL or set HEADGATE_HUB"
        )
    wanted = parse_labels(labels)
    with Project.load(OPTIONS.project) as project:
        root = project.root
        project.loaded  # noqa: B018 - an invalid checkout stops the agent before it takes work
    me = name or f"{socket.gethostname()}-{os.getpid()}"
    transport = HttpTransport(url, token=token, capacity=capacity, wait=wait, prefetch=prefetch)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    _stop_on_signals(stop, transport)
    shown = ",".join(f"{k}={v}" for k, v in wanted.items()) or "none"
    out.print(f"agent {me} for {url}: labels {shown}, capacity {capacity}, project {root}")
    worker = Agent(me, root, transport, labels=wanted, lease=timedelta(seconds=lease), poll=0.0)
    threads = [
        threading.Thread(target=_work, args=(worker, stop), name=f"agent-{i}", daemon=True)
        for i in range(capacity)
    ]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    transport.close()
    remove_made()  # the commits' files it built other runs' tasks from
    out.print(f"agent {me} stopped")


def parse_labels(text: str) -> dict[str, str]:
    """``site=eu-west,env=prod`` as a mapping; a malformed pair is named."""
    found: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise HeadgateError(
                f"--labels: '{pair}' is not key=value", hint="e.g. --labels site=eu-west,env=prod"
            )
        found[key.strip()] = value.strip()
    return found


def _work(worker: Any, stop: threading.Event) -> None:
    try:
        worker.warm()  # the checkout loaded before work comes: the first task starts at once
        while not stop.is_set():
            try:
                if worker.work_once() is None:
                    stop.wait(worker.poll)
            except HeadgateError as exc:
                err.print(f"[red]{exc.render()}[/]")
                stop.wait(5.0)
            except Exception as exc:  # a bug in one task must not stop the agent
                logging.getLogger("headgate.agent").exception("unexpected error")
                err.print(f"[red]{type(exc).__name__}: {exc}[/]")
                stop.wait(5.0)
    finally:
        worker.close()  # this thread's project, its commit's files, its connection


def _stop_on_signals(stop: threading.Event, transport: Any) -> None:
    def stopping(signum: int, frame: Any) -> None:
        if stop.is_set():  # asked twice: at once
            err.print("stopped at once: the tasks held go back to the queue when their leases end")
            os._exit(128 + signum)
        out.print("stopping: finishing the tasks held first (signal again to stop at once)")
        transport.stopping()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stopping)


def register(app: typer.Typer) -> None:
    app.command()(agent)
