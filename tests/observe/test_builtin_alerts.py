"""Alerts that follow from events without any rule: a delivery that failed, a monitor's
anomaly, failed checks; each resolved when the component succeeds again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.observe.observing import Clock, observed_project

pytestmark = pytest.mark.fast


def test_delivery_failures_anomalies_and_failed_checks_open_and_resolve(tmp_path: Path) -> None:
    from headgate.facade import Project
    from headgate.observe.events import TestOutcomesEvent
    from headgate.observe.observer import Observer
    from headgate.observe.own import observe_deliveries

    root = observed_project(tmp_path / "p", "")
    with Project.load(root) as project:
        observer = Observer(project, clock=Clock(datetime(2026, 12, 1, tzinfo=UTC)))
        failed = SimpleNamespace(name="weekly_report", status="failed", message="disk full")
        observe_deliveries(project.state, "prod", 7, [failed])

        def outcomes(key: str, *found: tuple[str, str, str]) -> None:
            tests = [{"name": n, "status": s, "type": t} for n, s, t in found]
            event = TestOutcomesEvent(dataset_key=key, test_outcomes=tests)  # type: ignore[arg-type]
            project.post_events([event.to_event()])

        outcomes("orders", ("rows", "FAILED", "monitor"))
        outcomes("customers", ("not_null", "FAILED", "not_null"), ("rows", "PASSED", "monitor"))
        observer.tick()
        opened = {(a.component, a.kind) for a in project.alerts(status="open")}
        assert opened == {
            ("delivery:weekly_report", "delivery_failed"),
            ("orders", "anomaly"),
            ("customers", "checks_failed"),
        }
        delivered = SimpleNamespace(name="weekly_report", status="delivered", message="")
        observe_deliveries(project.state, "prod", 8, [delivered])
        outcomes("orders", ("rows", "PASSED", "monitor"))
        outcomes("customers", ("not_null", "PASSED", "not_null"))
        observer.tick()
        assert project.alerts(status="open") == []
        assert len(project.alerts(status="resolved")) == 3
