"""Terminal rendering: a Rich console for runs, and tables for runs, status and queries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console as RichTerminal
from rich.markup import escape
from rich.table import Table

from headgate.cli.common import identifier
from headgate.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

    from headgate.facade import EnvironmentStatus
    from headgate.plan.planner import Plan
    from headgate.runtime.results import RunResult, TaskResult
    from headgate.state.records import RunRecord, TaskRecord

STATUS_STYLE = {
    "built": "green",
    "skipped": "dim",
    "failed": "bold red",
    "upstream_failed": "red",
    "success": "green",
    "nothing_to_do": "dim",
    "running": "yellow",
    "abandoned": "magenta",
    "up to date": "green",
    "changed": "yellow",
    "not published": "cyan",
}
SUMMARY_ROWS = 40


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


class RichConsole(Console):
    """Progress bar while a run works; a summary table when it ends."""

    def __init__(self, terminal: RichTerminal | None = None) -> None:
        self.out = terminal or RichTerminal()
        self.err = RichTerminal(stderr=True)
        self._progress: Progress | None = None
        self._task: Any = None
        self._loading: dict[str, int] = {}  # task -> rows so far, while it runs

    def plan_ready(self, plan: Plan) -> None:
        work = plan.work
        if not work:
            return
        self.out.print(
            f"[bold]{plan.environment}[/]: {len(work)} to build, {len(plan.nodes) - len(work)} up to date"
        )
        from rich.progress import (  # loaded only by commands that show progress
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.out,
            transient=True,
        )
        self._task = self._progress.add_task("building", total=len(work))
        self._progress.start()

    def task_progress(self, name: str, rows: int) -> None:
        self._loading.pop(name, None)  # the latest to move is the one shown
        self._loading[name] = rows
        if self._progress is not None:
            self._progress.update(self._task, description=self._describe_loading())

    def task_finished(self, result: TaskResult) -> None:
        self._loading.pop(result.name, None)
        if self._progress is not None:
            shown = self._describe_loading() if self._loading else result.name
            self._progress.update(self._task, advance=1, description=shown)

    def _describe_loading(self) -> str:
        """``loading shop.orders: 2,450,000 rows`` (and how many other loads run)."""
        name, rows = next(reversed(self._loading.items()))
        others = f" (+{len(self._loading) - 1} more)" if len(self._loading) > 1 else ""
        return f"loading {name}: {rows:,} rows{others}"

    def run_finished(self, result: RunResult) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        render_run_summary(self.out, result)

    def info(self, text: str) -> None:
        self.out.print(text)

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/] {escape(text)}")

    def waiting(self, text: str) -> None:
        self.err.print(f"[yellow]…[/] {text}")


class QuietConsole(Console):
    """For ``--json``: stdout carries only the document; waits and warnings go to stderr."""

    def __init__(self) -> None:
        self.err = RichTerminal(stderr=True)

    def warn(self, text: str) -> None:
        self.err.print(f"warning: {text}", highlight=False)

    def waiting(self, text: str) -> None:
        self.err.print(text, highlight=False)


def render_run_summary(out: RichTerminal, result: RunResult) -> None:
    shown = [t for t in result.tasks if t.status != "skipped"]
    if shown:
        table = Table(title=f"run {result.run_id} in {result.environment}", title_justify="left")
        for column, justify in (
            ("model", "left"),
            ("status", "left"),
            ("rows", "right"),
            ("seconds", "right"),
        ):
            whole = identifier((t.name for t in shown), others=3, width=out.width)
            options = whole if column == "model" else {}
            table.add_column(column, justify=justify, **options)  # type: ignore[arg-type]
        shown.sort(key=lambda t: (t.status not in ("failed", "upstream_failed"), -t.seconds))
        for task in shown[:SUMMARY_ROWS]:
            rows = f"{task.rows:,}" if task.rows is not None else ""
            table.add_row(task.name, styled(task.status), rows, f"{task.seconds:.2f}")
        out.print(table)
        if len(shown) > SUMMARY_ROWS:
            out.print(
                f"… and {len(shown) - SUMMARY_ROWS} more (slowest shown): headgate runs {result.run_id}"
            )
    render_check_summary(out, [c for t in result.tasks for c in t.checks])
    render_deliveries(out, result.deliveries)
    counts = ", ".join(f"{styled(k)} {v}" for k, v in sorted(result.counts().items()))
    colour = "red" if result.status == "failed" else "green"
    out.print(f"[{colour}]{result.message}[/] ({counts}; {result.seconds:.2f} s)")
    for task in result.tasks:
        if task.status == "failed":
            out.print(f"[bold red]{task.name}[/]: {escape(task.error or '')}")


CHECK_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "error": "magenta"}


def render_check_summary(
    out: RichTerminal, checks: list[Any], *, show_passed: bool = False
) -> None:
    """One line of counts, then every check that did not pass, with what it found."""
    if not checks:
        return
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    line = ", ".join(f"[{CHECK_STYLE.get(k, '')}]{v} {k}[/]" for k, v in sorted(counts.items()))
    out.print(f"checks: {line}")
    shown = [c for c in checks if show_passed or c.status != "pass"]
    if not shown:
        return
    table = Table(show_header=True)
    table.add_column("check", **identifier((c.name for c in shown), others=3, width=out.width))
    for column in ("status", "failing", "message"):
        table.add_column(column)
    for check in shown:
        failing = f"{check.failing_rows:,}" if check.failing_rows is not None else ""
        style = CHECK_STYLE.get(check.status, "")
        table.add_row(check.name, f"[{style}]{check.status}[/]", failing, check.message)
    out.print(table)
    if any(c.sample for c in shown):
        out.print("failing rows: headgate failures CHECK_NAME")


def render_failures(out: RichTerminal, record: Any) -> None:
    style = CHECK_STYLE.get(record.status, "")
    out.print(
        f"[bold]{record.check_name}[/] on {record.model}: [{style}]{record.status}[/] (run {record.run_id})"
    )
    out.print(record.message)
    if record.sql:
        out.print("[dim]query that decides it:[/]")
        out.print(record.sql, highlight=False)
    if not record.sample:
        out.print(_no_sample(record))
        return
    table = Table(title=f"sample of failing rows ({len(record.sample)})", title_justify="left")
    columns = list(record.sample[0])
    for column in columns:
        table.add_column(column)
    for row in record.sample:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


def _no_sample(record: Any) -> str:
    """Why a result has no failing rows to show."""
    if record.status == "pass":
        return "no failing rows recorded"
    if record.status == "error":
        why = str(record.message).removeprefix("could not run the check: ")
        fix = "its query" if record.check_type == "custom_sql" else "the check"
        return (
            f"no failing rows: the check errored, it could not be decided ({why}); "
            f"fix {fix}, then run `headgate test`"
        )
    if record.failing_rows:
        return "no sample: the failing rows could not be fetched (see the message)"
    return "no sample: the check judges the whole table, not rows"


def render_deliveries(out: RichTerminal, deliveries: list[Any]) -> None:
    style = {"delivered": "green", "failed": "bold red", "skipped": "dim"}
    for delivery in deliveries:
        where = ", ".join(str(p) for p in delivery.outputs)
        note = f" ({delivery.message})" if delivery.message else ""
        out.print(
            f"delivery {delivery.name}: [{style.get(delivery.status, '')}]{delivery.status}[/] {where}{note}"
        )


def render_runs(out: RichTerminal, runs: list[RunRecord]) -> None:
    table = Table(title="runs", title_justify="left")
    for column in (
        "id",
        "environment",
        "status",
        "started",
        "seconds",
        "built",
        "failed",
        "published",
        "user",
        "commit",
    ):
        table.add_column(column)
    for run in runs:
        table.add_row(
            str(run.id),
            run.environment,
            styled(run.status),
            _when(run.started_at),
            _duration(run.started_at, run.ended_at),
            str(run.counts.get("built", 0)),
            str(run.counts.get("failed", 0) + run.counts.get("upstream_failed", 0)),
            "yes" if run.published else "no",
            run.user or "",
            (run.git_commit or "")[:8],
        )
    out.print(table)


def render_run_detail(out: RichTerminal, run: RunRecord) -> None:
    out.print(
        f"run [bold]{run.id}[/] in {run.environment}: {styled(run.status)}, started {_when(run.started_at)}, "
        f"{_duration(run.started_at, run.ended_at)} s, published: {'yes' if run.published else 'no'}"
    )
    table = Table()
    steps = any(t.kind == "step" for t in run.tasks)
    others = 6 if steps else 5
    table.add_column(
        "model", **identifier((t.name for t in run.tasks), others=others, width=out.width)
    )
    for column in ("kind", "status", "rows", "seconds", "error"):
        table.add_column(column)
    if steps:
        table.add_column("output", overflow="fold")
    for task in run.tasks:
        row = [
            task.name,
            task.kind,
            styled(task.status),
            f"{task.rows:,}" if task.rows is not None else "",
            f"{task.seconds:.2f}" if task.seconds is not None else "",
            escape((task.error or "")[:120]),
        ]
        if steps:
            row.append(_step_output(run.id, task) if task.kind == "step" else "")
        table.add_row(*row)
    out.print(table)
    if run.error:
        out.print(f"[red]{escape(run.error)}[/]")


STEP_OUTPUT_LINES = 3  # a step's last lines in a run's table; --task prints them all


def _step_output(run_id: int, task: TaskRecord) -> str:
    """A step's last lines of output, and how to see the rest."""
    detail = task.detail or {}
    lines = [line for line in str(detail.get("output") or "").splitlines() if line.strip()]
    shown = [escape(line[:100]) for line in lines[-STEP_OUTPUT_LINES:]]
    if detail.get("attempts", 1) > 1:
        shown.append(f"[dim]{detail['attempts']} attempts[/]")
    shown.append(f"[dim]all of it: headgate runs {run_id} --task {task.name}[/]")
    return "\n".join(shown)


def render_task_output(
    out: RichTerminal, run: RunRecord, name: str, root: Any, *, whole: str | None = None
) -> None:
    """A task of the run in full: a step's whole output, from its log file when it is here.

    ``root`` is the project's folder (None when the run is read from a hub, whose files
    are not here); ``whole`` the output a hub sent. Without either, the output's last
    lines kept with the task are shown.
    """
    from pathlib import Path

    from headgate.errors import HeadgateError

    task = next((t for t in run.tasks if t.name == name.strip().lower()), None)
    if task is None:
        names = ", ".join(t.name for t in run.tasks) or "none"
        raise HeadgateError(f"run {run.id} has no task named '{name}'", hint=f"its tasks: {names}")
    detail = task.detail or {}
    out.print(f"{task.name} ({task.kind}) in run {run.id}: {styled(task.status)}")
    if task.kind != "step":
        for key, value in detail.items():
            out.print(f"{key}: {escape(str(value))}", soft_wrap=True)
    else:
        log = Path(root) / str(detail["log"]) if root is not None and detail.get("log") else None
        if log is not None and log.is_file():
            out.print(f"[dim]--- {escape(str(detail['log']))}[/]")
            out.print(escape(log.read_text(encoding="utf-8", errors="replace")), end="")
        elif whole is not None:
            out.print(f"[dim]--- {escape(str(detail.get('log') or ''))} on the hub[/]")
            out.print(escape(whole), end="")
        else:
            where = (
                f" (the whole output is in {detail['log']} on the hub)" if detail.get("log") else ""
            )
            out.print(f"[dim]--- its last lines{escape(where)}[/]")
            out.print(escape(str(detail.get("output") or "")), soft_wrap=True)
    if task.error:
        out.print(f"[red]{escape(task.error)}[/]", soft_wrap=True)


def render_status(out: RichTerminal, status: EnvironmentStatus) -> None:
    table = Table(title=f"{status.environment}", title_justify="left")
    names = (m.name for m in status.models)
    table.add_column("model", **identifier(names, others=5, width=out.width))
    for column in ("kind", "materialized", "state", "rows", "published"):
        table.add_column(column)
    for model in status.models:
        table.add_row(
            model.name,
            model.kind,
            model.materialized,
            styled(model.state),
            f"{model.rows:,}" if model.rows is not None else "",
            _when(model.published_at),
        )
    out.print(table)
    counts = ", ".join(f"{styled(k)} {v}" for k, v in sorted(status.counts.items()))
    out.print(counts)
    if status.last_run:
        run = status.last_run
        out.print(f"last run: {run.id} {styled(run.status)} at {_when(run.started_at)}")


def render_rows(
    out: RichTerminal,
    columns: list[str],
    rows: list[tuple[Any, ...]],
    *,
    max_rows: int = 100,
    total: int | None = None,
) -> None:
    """The first ``max_rows`` rows and how many there are (``total``: rows streamed past)."""
    table = Table()
    for name in columns:
        table.add_column(name)
    for row in rows[:max_rows]:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)
    count = len(rows) if total is None else total
    more = f" (showing {max_rows})" if count > max_rows else ""
    out.print(f"{count:,} row(s){more}")


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%m-%d %H:%M:%S") if value else ""


def _duration(start: datetime | None, end: datetime | None) -> str:
    if not start or not end:
        return ""
    return f"{(end - start).total_seconds():.2f}"
