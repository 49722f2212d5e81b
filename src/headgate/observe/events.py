"""The events external tools post to the hub, in the shapes DataKitchen's users already send.

Five kinds (DataKitchen Observability's v1 events, so an integration carries over):
``run-status`` (a run or one task is RUNNING, COMPLETED, COMPLETED_WITH_WARNINGS or
FAILED), ``test-outcomes``, ``metric-log``, ``message-log`` and ``dataset-operation``.
Each names exactly one component (``pipeline_key``, ``dataset_key``, ``server_key`` or
``stream_key``); the component is created the first time a key is seen. Each is
validated strictly (an unknown field is an error that lists the allowed ones) and turned
into an :class:`Event`, the one shape headgate's own runs produce too.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KEY = Annotated[str, Field(min_length=1, max_length=400)]
NAME = Annotated[str, Field(max_length=400)]
RUN_STATUSES = ("RUNNING", "COMPLETED", "COMPLETED_WITH_WARNINGS", "FAILED")
END_STATUSES = ("COMPLETED", "COMPLETED_WITH_WARNINGS", "FAILED")
TEST_STATUSES = ("PASSED", "FAILED", "WARNING")
COMPONENT_FIELDS = {
    "pipeline_key": "batch_pipeline",
    "dataset_key": "dataset",
    "server_key": "server",
    "stream_key": "stream",
}
KINDS = ("run-status", "test-outcomes", "metric-log", "message-log", "dataset-operation")


@dataclass
class Event:
    """One event as headgate keeps it, whoever sent it (the API, a run, OpenLineage)."""

    kind: str  # one of KINDS
    component: str
    component_kind: str  # batch_pipeline | dataset | server | stream | model | delivery
    at: datetime
    body: dict[str, Any]  # what was posted (or produced), JSON-safe
    component_name: str | None = None
    tool: str | None = None
    run_key: str | None = None
    task_key: str | None = None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: str = "api"  # api | headgate | openlineage
    journey: str | None = None  # metadata.journey: the journey the component belongs to
    owner: str | None = None

    @property
    def status(self) -> str | None:
        value = self.body.get("status")
        return value if isinstance(value, str) else None


class _EventBase(BaseModel):
    """What every event carries: its component, run, task, tool, time and metadata."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: ClassVar[str]

    pipeline_key: KEY | None = None
    pipeline_name: NAME | None = None
    dataset_key: KEY | None = None
    dataset_name: NAME | None = None
    server_key: KEY | None = None
    server_name: NAME | None = None
    stream_key: KEY | None = None
    stream_name: NAME | None = None
    run_key: KEY | None = None
    run_name: NAME | None = None
    task_key: KEY | None = None
    task_name: NAME | None = None
    component_tool: NAME | None = Field(None, description="The tool that sent it: airflow, ...")
    external_url: Annotated[str, Field(max_length=2000)] | None = None
    event_timestamp: datetime | None = Field(
        None, description="When it happened (ISO 8601 with a zone; default: when received)"
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Anything else; `journey` adds the component to that journey, "
        "`owner` names who is told when it fails",
    )
    payload_keys: list[KEY] = Field(default_factory=list, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = set(cls.model_fields)
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                raise ValueError(
                    f"unknown field {unknown[0]!r} in a {cls.kind} event: allowed are "
                    + ", ".join(sorted(allowed))
                )
        return data

    @model_validator(mode="after")
    def _one_component(self) -> _EventBase:
        given = [name for name in COMPONENT_FIELDS if getattr(self, name)]
        if len(given) != 1:
            found = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(
                "name exactly one component: pipeline_key, dataset_key, server_key or "
                f"stream_key ({found})"
            )
        if self.event_timestamp is not None and self.event_timestamp.tzinfo is None:
            raise ValueError(
                "event_timestamp needs a time zone, e.g. 2026-12-03T02:00:00Z or +01:00"
            )
        return self

    def _body(self) -> dict[str, Any]:
        """The fields that were given, as JSON values (cheaper than a full dump)."""
        body: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
                value = [v.model_dump(mode="json", exclude_none=True) for v in value]
            body[name] = value
        body["event_type"] = self.kind
        return body

    def to_event(self) -> Event:
        """The event as headgate keeps it."""
        field_name = next(name for name in COMPONENT_FIELDS if getattr(self, name))
        key: str = getattr(self, field_name)
        name = getattr(self, field_name.replace("_key", "_name"))
        body = self._body()
        at = self.event_timestamp.astimezone(UTC) if self.event_timestamp else datetime.now(UTC)
        journey = self.metadata.get("journey")
        owner = self.metadata.get("owner")
        return Event(
            kind=self.kind,
            component=key,
            component_kind=COMPONENT_FIELDS[field_name],
            component_name=name,
            tool=self.component_tool,
            run_key=self.run_key,
            task_key=self.task_key,
            at=at,
            body=body,
            journey=str(journey)[:200] if journey else None,
            owner=str(owner)[:200] if owner else None,
        )


class RunStatusEvent(_EventBase):
    """A run (or, with ``task_key``, one of its tasks) changed status."""

    kind: ClassVar[str] = "run-status"
    event_type: Literal["run-status"] = "run-status"
    status: Literal["RUNNING", "COMPLETED", "COMPLETED_WITH_WARNINGS", "FAILED"]

    @model_validator(mode="after")
    def _pipeline_run(self) -> RunStatusEvent:
        if not (self.pipeline_key or self.stream_key) or not self.run_key:
            raise ValueError("a run-status event needs pipeline_key (or stream_key) and run_key")
        return self


class TestOutcome(BaseModel):
    """One test's outcome, as TestGen, dbt or Great Expectations report it."""

    model_config = ConfigDict(extra="forbid")
    __test__ = False  # not a pytest class

    name: Annotated[str, Field(min_length=1, max_length=400)]
    status: Literal["PASSED", "FAILED", "WARNING"]
    description: Annotated[str, Field(max_length=4000)] | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    metric_value: float | None = None
    metric_name: NAME | None = None
    metric_description: Annotated[str, Field(max_length=4000)] | None = None
    min_threshold: float | None = None
    max_threshold: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    dimensions: list[NAME] = Field(default_factory=list, max_length=50)
    result: Annotated[str, Field(max_length=4000)] | None = None
    type: NAME | None = None
    key: NAME | None = None
    integrations: dict[str, Any] | None = None


class TestOutcomesEvent(_EventBase):
    """The outcomes of tests run on a component's data."""

    __test__ = False
    kind: ClassVar[str] = "test-outcomes"
    event_type: Literal["test-outcomes"] = "test-outcomes"
    test_outcomes: list[TestOutcome] = Field(min_length=1, max_length=1000)


class MetricLogEvent(_EventBase):
    """One metric's value (row count, duration, anything a rule may compare)."""

    kind: ClassVar[str] = "metric-log"
    event_type: Literal["metric-log"] = "metric-log"
    metric_key: Annotated[str, Field(min_length=1, max_length=400)]
    metric_value: float

    @model_validator(mode="after")
    def _finite(self) -> MetricLogEvent:
        if not math.isfinite(self.metric_value):
            raise ValueError("metric_value must be a finite number (not NaN or infinity)")
        return self


class MessageLogEvent(_EventBase):
    """A log line worth keeping: an error, a warning, a note."""

    kind: ClassVar[str] = "message-log"
    event_type: Literal["message-log"] = "message-log"
    log_level: Literal["ERROR", "WARNING", "INFO"]
    message: Annotated[str, Field(min_length=1, max_length=20_000)]
    message_details: Annotated[str, Field(max_length=20_000)] | None = None


class DatasetOperationEvent(_EventBase):
    """A dataset was read or written."""

    kind: ClassVar[str] = "dataset-operation"
    event_type: Literal["dataset-operation"] = "dataset-operation"
    operation: Literal["READ", "WRITE"]
    path: Annotated[str, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _dataset_only(self) -> DatasetOperationEvent:
        if not self.dataset_key:
            raise ValueError("a dataset-operation event needs dataset_key")
        if self.pipeline_key or self.run_key:
            raise ValueError("a dataset-operation event takes no pipeline_key or run_key")
        return self


EVENT_MODELS: dict[str, type[_EventBase]] = {
    "run-status": RunStatusEvent,
    "test-outcomes": TestOutcomesEvent,
    "metric-log": MetricLogEvent,
    "message-log": MessageLogEvent,
    "dataset-operation": DatasetOperationEvent,
}

AnyEvent = Annotated[
    RunStatusEvent | TestOutcomesEvent | MetricLogEvent | MessageLogEvent | DatasetOperationEvent,
    Field(discriminator="event_type"),
]


class EventBatch(BaseModel):
    """Many events in one request, each with its ``event_type``; stored in one transaction."""

    model_config = ConfigDict(extra="forbid")

    events: list[AnyEvent] = Field(min_length=1, max_length=10_000)
