"""Schedules declared in ``headgate.yml``: when a pipeline runs by itself, and how.

```yaml
schedules:
  - name: nightly
    cron: "0 2 * * *"           # croniter's five fields (minute hour day month weekday)
    timezone: Europe/Paris
    environment: prod
    select: "+marts.daily_revenue"  # optional: what to run (default: everything)
    timeout: 3600                # seconds a task may run (default: task_timeout)
    retries: 2                   # tries again after a transient error
    max_concurrent: 1            # runs of this schedule at once; later slots wait
    catch_up: latest             # none | latest | all, after downtime
    catch_up_limit: 24           # with `all`: at most this many missed slots
    includes: [ingest, build, checks, publish, deliveries]   # what a run does (default: all)
    agents:                      # optional: the slot's runs go to agents, not the hub's lane
      labels: {env: prod}        # every task asks for these labels
      sites:                     # and the tasks a selection names, for that site's too
        - {select: "shop_db.*", labels: {site: on-prem}}

triggers:
  - name: new_orders
    files: shop.orders           # a table of a `type: files` source: a new file starts a run
    environment: prod
    select: "shop.orders+"       # optional; default: the table and everything downstream
```

A cron expression has five fields, or six with seconds last (``* * * * * */10``: every
ten seconds). A trigger fires once per new file (by its content: a file rewritten with
the same bytes is not new), once the file stopped growing; files that land together
start one run.

``includes`` says which steps a run does: ``ingest`` (sources load new data), ``build``
(models), ``checks`` (their audits), ``publish`` (the environment's swap) and
``deliveries`` (after the publish). Write-audit-publish holds: ``publish`` needs
``checks``, and ``deliveries`` needs ``publish``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator

from headgate.errors import HeadgateError, ProjectError
from headgate.project.strict import StrictModel

STEPS = ("ingest", "build", "checks", "publish", "deliveries")
ALL_STEPS: frozenset[str] = frozenset(STEPS)


def run_includes(values: Iterable[str] | None) -> frozenset[str]:
    """The steps a run does (all when ``values`` is None), else a ValueError saying why not.

    >>> sorted(run_includes(["ingest", "build"]))
    ['build', 'ingest']
    >>> run_includes(["build", "publish"])
    Traceback (most recent call last):
    ...
    ValueError: a run that publishes must check what it publishes: add checks to includes, or drop publish (and deliveries)
    """
    if values is None:
        return ALL_STEPS
    chosen = [str(v).strip().lower() for v in values]
    unknown = [v for v in chosen if v not in STEPS]
    if unknown:
        raise ValueError(f"'{unknown[0]}' is not a step of a run: use {', '.join(STEPS)}")
    if not chosen:
        raise ValueError(f"includes names no step: use some of {', '.join(STEPS)}")
    found = frozenset(chosen)
    if "publish" in found and "checks" not in found:
        raise ValueError(
            "a run that publishes must check what it publishes: add checks to includes, "
            "or drop publish (and deliveries)"
        )
    if "deliveries" in found and "publish" not in found:
        raise ValueError(
            "deliveries run after a publish: add publish (and checks) to includes, or drop "
            "deliveries"
        )
    if not {"ingest", "build"} & found:
        raise ValueError("a run that neither ingests nor builds does nothing: add ingest or build")
    return found


def checked_includes(includes: Collection[str] | None) -> frozenset[str]:
    """The steps a run does, or a user's error saying which are allowed together."""
    try:
        return run_includes(includes)
    except ValueError as exc:
        raise HeadgateError(
            f"includes: {exc}", hint=f"steps: {', '.join(STEPS)} (default: all of them)"
        ) from None


def includes_text(includes: Iterable[str]) -> str:
    """How a run's steps read in its command: '' for all of them, else ' --only a,b'."""
    chosen = frozenset(includes)
    if chosen >= ALL_STEPS:
        return ""
    return " --only " + ",".join(s for s in STEPS if s in chosen)


class SiteConfig(StrictModel):
    """The tasks a selection names go to the agents carrying these labels too."""

    select: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)


class AgentsConfig(StrictModel):
    """A schedule's runs carried out by agents: the labels each task asks for, by site."""

    labels: dict[str, str] = Field(default_factory=dict)
    sites: list[SiteConfig] = Field(default_factory=list)


class RunSteps(StrictModel):
    """What a schedule's or a trigger's run does, and where."""

    includes: list[str] = Field(default_factory=lambda: list(STEPS))
    agents: AgentsConfig | None = None

    @field_validator("includes")
    @classmethod
    def _steps(cls, value: list[str]) -> list[str]:
        chosen = run_includes(value)
        return [s for s in STEPS if s in chosen]

    @field_validator("agents")
    @classmethod
    def _agents_check(cls, value: AgentsConfig | None, info: ValidationInfo) -> AgentsConfig | None:
        if value is not None and "checks" not in info.data.get("includes", STEPS):
            raise ValueError(
                "runs that go to agents check what they build: add checks to includes, "
                "or drop agents"
            )
        return value

    @property
    def steps(self) -> frozenset[str]:
        return frozenset(self.includes)


def cron_expression(value: str) -> str:
    """``value`` if croniter reads it as a cron expression, else a ValueError saying how."""
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(
            f"'{value}' is not a cron expression: five fields, minute hour day month "
            "weekday, e.g. '0 2 * * *' for 02:00 every day"
        )
    return value


def time_zone(value: str) -> str:
    """``value`` if it names an IANA time zone, else a ValueError saying how."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{value}': use an IANA name such as Europe/Paris"
        ) from None
    return value


class ScheduleConfig(RunSteps):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
    cron: str
    timezone: str = "UTC"
    environment: str = "prod"
    select: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    retries: int = Field(default=2, ge=0, le=20)
    retry_backoff: float = Field(default=1.0, ge=0)
    max_concurrent: int = Field(default=1, ge=1, le=100)
    catch_up: Literal["none", "latest", "all"] = "latest"
    catch_up_limit: int = Field(default=24, ge=1, le=10_000)
    paused: bool = False

    _cron = field_validator("cron")(lambda cls, value: cron_expression(value))
    _timezone = field_validator("timezone")(lambda cls, value: time_zone(value))

    @property
    def kind(self) -> str:
        return "cron"

    @property
    def selection(self) -> str | None:
        return self.select

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    def slot_before(self, moment: datetime) -> datetime | None:
        """The newest slot at or before ``moment``, in UTC (None: none within a year).

        >>> s = ScheduleConfig(name="n", cron="0 2 * * *", timezone="Europe/Paris")
        >>> from datetime import UTC
        >>> s.slot_before(datetime(2024, 7, 2, 0, 0, tzinfo=UTC)).isoformat()
        '2024-07-02T00:00:00+00:00'
        """
        from croniter import croniter

        local = moment.astimezone(self.zone).replace(microsecond=0) + timedelta(seconds=1)
        found: datetime = croniter(self.cron, local).get_prev(datetime)
        if (local - found).days > 366:
            return None
        return found.astimezone(moment.tzinfo)

    def next_slots(self, after: datetime, count: int = 3) -> list[datetime]:
        """The next ``count`` slots after ``after``, in UTC."""
        from croniter import croniter

        walker = croniter(self.cron, after.astimezone(self.zone))
        return [walker.get_next(datetime).astimezone(after.tzinfo) for _ in range(count)]

    def slots_between(self, after: datetime, until: datetime) -> list[datetime]:
        """The slot times in (after, until], in UTC, oldest first (02:00 in Paris is 00:00 UTC
        in summer; a slot exactly at ``after`` is not after it).

        >>> s = ScheduleConfig(name="n", cron="0 2 * * *", timezone="Europe/Paris")
        >>> from datetime import UTC
        >>> [t.isoformat() for t in s.slots_between(datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 3, tzinfo=UTC))]
        ['2024-07-02T00:00:00+00:00', '2024-07-03T00:00:00+00:00']
        """
        from croniter import croniter

        local = after.astimezone(self.zone)
        found: list[datetime] = []
        walker = croniter(self.cron, local)
        while True:
            slot = walker.get_next(datetime)
            if slot > until:
                return found
            found.append(slot.astimezone(until.tzinfo))


class TriggerConfig(RunSteps):
    """A run started by something happening rather than a clock: a new file in a source."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
    files: str = Field(description="a table of a files source, as models read it: shop.orders")
    environment: str = "prod"
    select: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    retries: int = Field(default=2, ge=0, le=20)
    retry_backoff: float = Field(default=1.0, ge=0)
    paused: bool = False

    @field_validator("files")
    @classmethod
    def _table_name(cls, value: str) -> str:
        if value.count(".") != 1:
            raise ValueError(
                f"'{value}' is not a source table: write <source>.<table>, e.g. shop.orders"
            )
        return value.lower()

    @property
    def kind(self) -> str:
        return "files"

    @property
    def selection(self) -> str:
        """What a fired trigger runs: its ``select``, else the table and its downstream."""
        return self.select or f"{self.files}+"


def check_triggers(
    root: Path, triggers: list[TriggerConfig], sources: dict[str, Any]
) -> list[ProjectError]:
    """A trigger must name a table of a files source; each one that does not, with its line."""
    from headgate.project.root import CONFIG_FILE
    from headgate.project.yamlfile import load_yaml_file

    files = sorted(name for name, table in sources.items() if getattr(table, "kind", "") == "files")
    errors = []
    for i, trigger in enumerate(triggers):
        if trigger.files in files:
            continue
        doc = load_yaml_file(root / CONFIG_FILE)
        errors.append(
            ProjectError(
                f"trigger {trigger.name}: '{trigger.files}' is not a table of a files source",
                doc.location(("triggers", i, "files")),
                hint=f"files source tables: {', '.join(files) or 'none (sources/*.yml, type: files)'}",
            )
        )
    return errors
