"""The rows of a run page's table of tasks, written in Python.

A run of 1,000 tasks is 1,000 rows: through Jinja they cost most of the page, and the
page of a running run is fetched again every second by each person watching it. The
HTML is the template's as it was (``tests/server/test_run_rows.py`` renders both).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from jinja2.utils import url_quote
from markupsafe import Markup, escape

from headgate.server.ui.templating import number, pill

if TYPE_CHECKING:
    from headgate.server.ui.runs import TaskView
    from headgate.state.records import CheckResultRecord, TaskRecord


def task_rows(views: Iterable[TaskView], environment: str) -> Markup:
    """One ``<tr>`` per task: its link, status, rows, seconds, checks and log."""
    rows = [_row(view, environment) for view in views]
    return Markup("".join(rows).rstrip("\n"))


def _row(view: TaskView, environment: str) -> str:
    task = view.task
    bad = view.not_passing
    step = task.kind == "step"
    href = "/steps/" + url_quote(task.name[6:]) if step else "/models/" + task.name
    attempts = ""
    if task.attempts and task.attempts > 1:
        attempts = f' <span class="small muted">{task.attempts} attempts</span>'
    seconds = "%.2f" % task.seconds if task.seconds is not None else ""  # noqa: UP031
    checks = ""
    if view.checks:
        checks = f"{len(view.checks) - len(bad)} pass"
        if bad:
            checks += f", <b>{len(bad)} not</b>"
    return (
        f'  <tr id="task-{escape(task.name)}">\n'
        f'    <td><a class="mono" href="{escape(href)}?env={escape(environment)}">'
        f'{escape(task.name)}</a> <span class="muted small">{escape(task.kind)}</span></td>\n'
        f"    <td>{pill(task.status)}{attempts}</td>\n"
        f'    <td class="num">{escape(number(task.rows))}</td>\n'
        f'    <td class="num">{escape(seconds)}</td>\n'
        f'    <td class="small">{checks}</td>\n'
        "    <td>\n"
        f"{_details(view, task, bad)}"
        "    </td>\n"
        "  </tr>\n"
    )


def _details(view: TaskView, task: TaskRecord, bad: list[CheckResultRecord]) -> str:
    if not (view.log or task.error or bad or task.detail):
        return ""
    parts = [
        f"      <details{' open' if task.error else ''}>"
        f'<summary class="small">{"error" if task.error else "log"}</summary>\n'
    ]
    if view.log:
        parts.append(f'<pre class="log">{escape(chr(10).join(map(str, view.log)))}</pre>')
    if task.detail:
        lines = "".join(f"{escape(k)}: {escape(v)}\n" for k, v in task.detail.items())
        parts.append(f'<pre class="log">{lines}</pre>')
    for check in bad:
        parts.append(
            f'<p class="small">{pill(check.status)} <code>{escape(check.check_name)}</code>: '
            f"{escape(check.message)}</p>"
        )
    if task.error:
        parts.append(f'<pre class="error">{escape(task.error)}</pre>')
    parts.append("      </details>\n")
    return "".join(parts)
