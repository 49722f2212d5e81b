"""Observing data journeys: events in, components and their runs, journeys, alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headgate.facade.base import ProjectBase

if TYPE_CHECKING:
    from headgate.observe.alerts import AlertRecord
    from headgate.observe.events import Event
    from headgate.observe.expectations import Upcoming
    from headgate.observe.journeys import InstanceRecord, JourneyRecord
    from headgate.observe.notices import NoticeRecord
    from headgate.observe.queries import ComponentRecord, EventRecord, RunRecord


class Observing(ProjectBase):
    def post_events(self, events: Sequence[Event]) -> list[str]:
        """Keep events (from the API, a run, OpenLineage) in one transaction; their ids."""
        from headgate.observe.ingest import ingest

        return ingest(self.state, events)

    def observed_events(self, **filters: Any) -> list[EventRecord]:
        """Events, newest first (``component``, ``kind``, ``run_key``, ``after``, ``limit``)."""
        from headgate.observe import queries

        return queries.events(self.state, **filters)

    def observed_event(self, event_id: str) -> EventRecord | None:
        from headgate.observe import queries

        return queries.event(self.state, event_id)

    def components(self) -> list[ComponentRecord]:
        """Every component: declared in headgate.yml, seen in events, or headgate's own."""
        from headgate.observe import queries

        return queries.components(self.state)

    def component(self, key: str) -> ComponentRecord | None:
        from headgate.observe import queries

        return queries.component(self.state, key)

    def component_runs(self, key: str, *, limit: int = 20) -> list[RunRecord]:
        from headgate.observe import queries

        return queries.runs(self.state, key, limit=limit, with_tasks=True)

    def alerts(
        self, *, status: str | None = None, component: str | None = None, limit: int = 100
    ) -> list[AlertRecord]:
        """Alerts, newest first: open until their component recovers."""
        from headgate.observe import alerts

        return alerts.alerts(self.state, status=status, component=component, limit=limit)

    def alert(self, alert_id: int) -> AlertRecord | None:
        from headgate.observe import alerts

        return alerts.alert(self.state, alert_id)

    def alerts_grouped_under(self, alert_id: int) -> list[AlertRecord]:
        """The downstream alerts an upstream one caused."""
        from headgate.observe import alerts

        return alerts.grouped_under(self.state, alert_id)

    def alert_notices(self, *, alert_id: int | None = None, limit: int = 100) -> list[NoticeRecord]:
        """What rules' actions sent (or still wait to send), newest first."""
        from headgate.observe import notices

        return notices.notices(self.state, alert_id=alert_id, limit=limit)

    def journeys(self) -> list[JourneyRecord]:
        """Every journey with its components in order and its edges."""
        from headgate.observe import journeys

        return journeys.journeys(self.state)

    def journey(self, name: str) -> JourneyRecord | None:
        from headgate.observe import journeys

        return journeys.journey(self.state, name)

    def journey_instances(self, name: str, *, limit: int = 20) -> list[InstanceRecord]:
        from headgate.observe import journeys

        return journeys.instances(self.state, name, limit=limit)

    def upcoming_instances(
        self, *, journey: str | None = None, now: datetime | None = None, count: int = 3
    ) -> list[Upcoming]:
        """The expected slots ahead of every scheduled component (of one journey)."""
        from headgate.observe.expectations import upcoming

        found = upcoming(self.loaded.config.observe, now or datetime.now(UTC), count=count)
        if journey is None:
            return found
        chosen = self.journey(journey)
        members = set(chosen.components) if chosen else set()
        return [u for u in found if u.component in members]
