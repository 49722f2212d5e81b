"""Schedules declared in ``headgate.yml``: when a pipeline runs by itself, and how.

```yaml
schedules:
  - name: nightly
    cron: "0 2 * * *"           # croniter's five fields (minute hour day month weekday)
    timezone: Europe/Paris
    environment: prod
    select: "+marts.daily_revenue"  # optional: what to run (default: everything)
    timeout: 3600                # seconds a task may run
    retries: 2                   # tries again after a transient error
    max_concurrent: 1            # runs of this schedule at once; later slots wait
    catch_up: latest             # none | latest | all, after downtime
    catch_up_limit: 24           # with `all`: at most this many missed slots
```
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from headgate.project.strict import StrictModel

STEPS = ("ingest", "build", "checks", "publish", "deliveries")


class ScheduleConfig(StrictModel):
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

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(
                f"'{value}' is not a cron expression: five fields, minute hour day month "
                "weekday, e.g. '0 2 * * *' for 02:00 every day"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}': use an IANA name such as Europe/Paris"
            ) from None
        return value

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)

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
