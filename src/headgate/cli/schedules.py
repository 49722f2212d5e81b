"""Commands for schedules: list them with their next slots, pause and resume, run the scheduler."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from headgate.cli.common import JsonOption, jsonable, out, print_json, project
from headgate.project.schedules import STEPS

if TYPE_CHECKING:
    from headgate.facade.scheduling import ScheduleStatus

schedules_app = typer.Typer(
    help="Schedules from headgate.yml: what runs by itself, and when.", invoke_without_command=True
)


@schedules_app.callback()
def schedules_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Each schedule (cron and time zone) and file trigger: paused or not, next slots, last
    slot and run."""
    if ctx.invoked_subcommand is not None:
        return
    with project() as current:
        found = current.schedules()
    if as_json:
        print_json({"schedules": [jsonable(s) for s in found]})
        return
    if not found:
        out.print("no schedules: declare them under `schedules:` (or `triggers:`) in headgate.yml")
        return
    table = Table(title="schedules", title_justify="left")
    for column in ("name", "when", "environment", "does", "state", "next", "last slot", "run"):
        table.add_column(column, no_wrap=column == "name")
    for s in found:
        table.add_row(
            s.name,
            f"new file in {s.files}" if s.kind == "files" else f"{s.cron} ({s.timezone})",
            s.environment,
            _does(s.includes, s.agents),
            "[yellow]paused[/]" if s.paused else "[green]active[/]",
            s.next_slots[0].astimezone().strftime("%Y-%m-%d %H:%M") if s.next_slots else "",
            _last_slot(s),
            str(s.last_run_id) if s.last_run_id else "",
        )
    out.print(table)


def _last_slot(status: ScheduleStatus) -> str:
    """The newest slot's time and state: '2026-12-04 02:00 (queued)'."""
    if status.last_slot is None:
        return ""
    when = status.last_slot.astimezone().strftime("%Y-%m-%d %H:%M")
    return f"{when} ({status.last_state})" if status.last_state else when


def _does(includes: list[str], agents: dict[str, Any] | None) -> str:
    """What a run of the schedule does, and where: 'all steps', 'ingest, build on agents'."""
    steps = "all steps" if len(includes) == len(STEPS) else ", ".join(includes)
    if agents is None:
        return steps
    labels = " ".join(f"{k}={v}" for k, v in agents.get("labels", {}).items())
    return f"{steps} on agents {labels}".rstrip()


@schedules_app.command("pause")
def schedules_pause(name: Annotated[str, typer.Argument(help="Schedule to pause.")]) -> None:
    """Stop a schedule: slots that come due while it is paused never run."""
    with project() as current:
        current.pause_schedule(name)
    out.print(f"[yellow]{name} paused[/]: resume it with headgate schedules resume {name}")


@schedules_app.command("resume")
def schedules_resume(name: Annotated[str, typer.Argument(help="Schedule to resume.")]) -> None:
    """Let a paused schedule run again, from its next slot."""
    with project() as current:
        current.pause_schedule(name, paused=False)
    out.print(f"[green]{name} resumed[/]")


def scheduler(
    every: Annotated[float, typer.Option(help="Seconds between two looks at the schedules.")] = 1.0,
) -> None:
    """Run the schedules in the foreground (the hub runs them itself); Ctrl-C stops."""
    from headgate.runtime.scheduler import Leadership, run_scheduler

    with project() as current:
        stop = threading.Event()
        out.print(
            f"scheduler for {len(current.loaded.config.schedules)} schedule(s); "
            "another scheduler on this store waits as a replica"
        )
        try:
            run_scheduler(current.scheduler(), Leadership(current.state), stop, every=every)
        except KeyboardInterrupt:
            stop.set()


def register(app: typer.Typer) -> None:
    app.add_typer(schedules_app, name="schedules")
    app.command()(scheduler)
