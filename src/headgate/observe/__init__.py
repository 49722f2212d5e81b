"""Watching data journeys: events, OpenLineage, rules and alerts, metrics."""
