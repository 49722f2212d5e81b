"""``observe:`` in headgate.yml: components, journeys, expected schedules, rules, owners.

```yaml
observe:
  hub_url: https://hub.example.com      # links in alerts point here
  owners: {data-platform: dp@example.com}
  components:
    - key: airflow_extract
      kind: batch_pipeline             # batch_pipeline | dataset | server | stream | model | pipeline
      tool: airflow
      owner: data-platform
      schedule: {cron: "0 2 * * *", margin: 30m, duration: 1h}
    - key: raw_orders
      kind: dataset
      schedule: {cron: "0 3 * * *", margin: 15m}   # a dataset: written by then
  journeys:
    - name: nightly
      path: [airflow_extract, raw_orders, "headgate:prod", tableau_extract]
  rules:
    - name: failures
      journey: nightly
      conditions: [{run_state: {matches: [FAILED]}}]
      actions:
        - slack: {url: "${secret:SLACK_HOOK}"}
      suppress_for: 6h
```
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from headgate.project.schedules import cron_expression, time_zone
from headgate.project.strict import StrictModel

COMPONENT_KINDS = ("batch_pipeline", "dataset", "server", "stream", "model", "pipeline")
ALERT_TYPES = (
    "late_start",
    "missing_run",
    "late_end",
    "dataset_not_ready",
    "failed",
    "checks_failed",
    "anomaly",
    "delivery_failed",
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
Key = Annotated[str, Field(min_length=1, max_length=400)]


def seconds(value: Any) -> float:
    """A duration as seconds: a number, or text like ``90s``, ``15m``, ``2h``, ``1d``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"'{value}' is not a duration: write seconds or e.g. 90s, 15m, 2h, 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


Duration = Annotated[float, Field(ge=0)]


class _Durations(StrictModel):
    @model_validator(mode="before")
    @classmethod
    def _parse_durations(cls, data: Any) -> Any:
        if isinstance(data, dict):
            names = {"margin", "duration", "suppress_for", "per"}
            data = {k: seconds(v) if k in names and v is not None else v for k, v in data.items()}
        return data


class ExpectedSchedule(_Durations):
    """When a component is expected to run (or a dataset to be written)."""

    cron: str
    timezone: str = "UTC"
    margin: Duration = 900.0  # seconds after the slot before a start is late
    duration: Duration | None = None  # seconds a run may take before its end is late

    _cron = field_validator("cron")(lambda cls, value: cron_expression(value))
    _zone = field_validator("timezone")(lambda cls, value: time_zone(value))

    @property
    def margin_delta(self) -> timedelta:
        return timedelta(seconds=self.margin)


class ComponentConfig(StrictModel):
    key: Key
    kind: Literal["batch_pipeline", "dataset", "server", "stream", "model", "pipeline"] = (
        "batch_pipeline"
    )
    name: str | None = None
    tool: str | None = None
    owner: str | None = None
    schedule: ExpectedSchedule | None = None


class JourneyConfig(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
    description: str | None = None
    path: list[Key] = Field(default_factory=list, description="components in order")
    edges: list[tuple[Key, Key]] = Field(
        default_factory=list, description="[upstream, downstream] pairs, for paths that fork"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> JourneyConfig:
        if not self.path and not self.edges:
            raise ValueError(f"journey {self.name} needs a path (components in order) or edges")
        return self

    def members(self) -> list[str]:
        found = list(self.path)
        for up, down in self.edges:
            found += [up, down]
        return list(dict.fromkeys(found))

    def links(self) -> list[tuple[str, str]]:
        pairs = list(zip(self.path, self.path[1:], strict=False)) + [tuple(e) for e in self.edges]
        return list(dict.fromkeys((str(a), str(b)) for a, b in pairs))


Statuses = list[Literal["RUNNING", "COMPLETED", "COMPLETED_WITH_WARNINGS", "FAILED"]]


class RunStateCondition(StrictModel):
    matches: Statuses = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=250, description="consecutive runs that match")


class TaskStateCondition(StrictModel):
    matches: Statuses = Field(min_length=1)


class TestStatusCondition(StrictModel):
    __test__ = False
    matches: list[Literal["PASSED", "FAILED", "WARNING"]] = Field(min_length=1)


class MetricCondition(StrictModel):
    key: Key
    operator: Literal["gt", "gte", "lt", "lte", "eq", "ne"]
    value: float


class MessageCondition(StrictModel):
    level: list[Literal["ERROR", "WARNING", "INFO"]] = Field(default_factory=list)
    matches: str = ".*"

    @field_validator("matches")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"'{value}' is not a regular expression: {exc}") from None
        return value


class AlertCondition(StrictModel):
    types: list[
        Literal[
            "late_start",
            "missing_run",
            "late_end",
            "dataset_not_ready",
            "failed",
            "checks_failed",
            "anomaly",
            "delivery_failed",
        ]
    ] = Field(min_length=1)


class Condition(StrictModel):
    """Exactly one of the kinds below."""

    run_state: RunStateCondition | None = None
    task_state: TaskStateCondition | None = None
    test_status: TestStatusCondition | None = None
    metric: MetricCondition | None = None
    message: MessageCondition | None = None
    alert: AlertCondition | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "a condition is exactly one of run_state, task_state, test_status, metric, "
                f"message, alert (got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)


class WebhookAction(StrictModel):
    url: str
    method: Literal["POST", "PUT", "PATCH", "GET"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = Field(
        None, description="a template: {component}, {kind}, {message}, {link}, {status}..."
    )


class SlackAction(StrictModel):
    url: str
    text: str | None = Field(None, description="a template for the message's first line")


class SmtpConfig(StrictModel):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False


class EmailAction(StrictModel):
    to: list[str] = Field(default_factory=list, max_length=50)
    to_owner: bool = True
    sender: str = Field(alias="from", default="headgate@localhost")
    subject: str | None = None
    smtp: SmtpConfig


class Action(_Durations):
    """Exactly one of webhook, slack, email; at most ``limit`` messages per ``per`` seconds."""

    webhook: WebhookAction | None = None
    slack: SlackAction | None = None
    email: EmailAction | None = None
    limit: int = Field(default=20, ge=1, le=10_000)
    per: Duration = 60.0

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [n for n in ("webhook", "slack", "email") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an action is exactly one of webhook, slack, email (got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(n for n in ("webhook", "slack", "email") if getattr(self, n) is not None)


class RuleConfig(_Durations):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
    journey: str | None = None
    component: str | None = None
    when: Literal["any", "all"] = "any"
    conditions: list[Condition] = Field(min_length=1)
    actions: list[Action] = Field(min_length=1)
    suppress_for: Duration = 3600.0  # seconds between reminders of an alert still open
    notify_resolved: bool = True


class ObserveConfig(StrictModel):
    hub_url: str = "http://localhost:8000"
    owners: dict[str, str] = Field(default_factory=dict, description="owner -> e-mail address")
    components: list[ComponentConfig] = Field(default_factory=list)
    journeys: list[JourneyConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ObserveConfig:
        for what, names in (
            ("component", [c.key for c in self.components]),
            ("journey", [j.name for j in self.journeys]),
            ("rule", [r.name for r in self.rules]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what} {twice[0]} is declared twice: give each its own name")
        journeys = {j.name for j in self.journeys}
        for rule in self.rules:
            if rule.journey and rule.journey not in journeys:
                raise ValueError(
                    f"rule {rule.name} names journey {rule.journey}, which is not declared: "
                    f"use one of {', '.join(sorted(journeys)) or '(none declared)'}"
                )
        return self

    def component(self, key: str) -> ComponentConfig | None:
        return next((c for c in self.components if c.key == key), None)
