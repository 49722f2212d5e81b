"""Observing data journeys: events in, components and their runs, journeys, alerts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headgate.facade.base import ProjectBase

if TYPE_CHECKING:
    from headgate.observe.events import Event
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
