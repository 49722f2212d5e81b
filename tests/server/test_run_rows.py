"""A run page's task rows, written in Python for speed, are the HTML the template made."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headgate.server.ui.runrows import task_rows
from headgate.server.ui.runs import TaskView
from headgate.server.ui.templating import _environment
from headgate.state.records import CheckResultRecord, TaskRecord

pytestmark = pytest.mark.fast

# the template's rows as they were, before they were written in Python
AS_TEMPLATE = """  <tbody>
  {% for v in tasks %}{% set t = v.task %}
  <tr id="task-{{ t.name }}">
    <td><a class="mono" href="{{ '/steps/' ~ t.name[6:]|urlencode if t.kind == 'step' else '/models/' ~ t.name }}?env={{ run.environment }}">{{ t.name }}</a> <span class="muted small">{{ t.kind }}</span></td>
    <td>{{ pill_html(t.status) }}{% if t.attempts and t.attempts > 1 %} <span class="small muted">{{ t.attempts }} attempts</span>{% endif %}</td>
    <td class="num">{{ number(t.rows) }}</td>
    <td class="num">{{ '%.2f'|format(t.seconds) if t.seconds is not none else '' }}</td>
    <td class="small">{% set bad = v.not_passing %}{% if v.checks %}{{ v.checks|length - bad|length }} pass{% if bad %}, <b>{{ bad|length }} not</b>{% endif %}{% endif %}</td>
    <td>
      {% if v.log or t.error or bad or t.detail %}
      <details{% if t.error %} open{% endif %}><summary class="small">{{ 'error' if t.error else 'log' }}</summary>
        {% if v.log %}<pre class="log">{{ v.log|join('\\n') }}</pre>{% endif %}
        {% if t.detail %}<pre class="log">{% for k, val in t.detail.items() %}{{ k }}: {{ val }}
{% endfor %}</pre>{% endif %}
        {% for c in bad %}<p class="small">{{ pill_html(c.status) }} <code>{{ c.check_name }}</code>: {{ c.message }}</p>{% endfor %}
        {% if t.error %}<pre class="error">{{ t.error }}</pre>{% endif %}
      </details>
      {% endif %}
    </td>
  </tr>
  {% endfor %}
  </tbody>"""


def check(status: str, name: str = "orders.id.unique") -> CheckResultRecord:
    return CheckResultRecord("m", name, "unique", status=status, message=f"<{status}> & more")


def views() -> list[TaskView]:
    began = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    plain = TaskRecord(1, "staging.orders", "model", "built", "f", "hp.o", 1234, began, began, 1.5)
    return [
        TaskView(plain),
        TaskView(plain, ["12:00:00 started", "12:00:01 built <ok> & 'fine'"]),
        TaskView(plain, checks=[check("pass"), check("pass", "orders.amount.range")]),
        TaskView(plain, checks=[check("pass"), check("warn"), check("fail", "b")]),
        TaskView(
            TaskRecord(
                1,
                "steps.load crm/x",
                "step",
                "failed",
                "f",
                seconds=None,
                attempts=3,
                error="exit 3: <boom> & 'quote'",
                detail={"exit_code": 3, "a<b": [1, "x"]},
            ),
            ["line"],
            [check("error")],
        ),
        TaskView(
            TaskRecord(
                1,
                "shop.o&rders",
                "source",
                "upstream_failed",
                "f",
                rows=None,
                attempts=1,
                seconds=0.004,
            )
        ),
        TaskView(TaskRecord(1, "x", "model", "running", "f", detail={"n": None})),
    ]


@pytest.mark.parametrize("environment", ["prod", "dev-a&b"])
def test_the_python_rows_are_the_templates_html(environment: str) -> None:
    shown = views()
    template = _environment().from_string(AS_TEMPLATE)
    by_template = template.render(tasks=shown, run={"environment": environment})
    by_python = f"  <tbody>\n{task_rows(shown, environment)}\n  </tbody>"
    assert by_python == by_template
