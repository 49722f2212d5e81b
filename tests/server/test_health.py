"""What the pages colour models by: the checks failing on what an environment publishes
now, read from the real store of a built project."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from headgate.facade import Project
from headgate.server.ui.health import environment_health
from tests.server.hubs import make_project

pytestmark = pytest.mark.fast


def test_a_failing_warning_shows_until_a_later_result_of_it_passes(tmp_path: Path) -> None:
    with Project.load(make_project(tmp_path / "shop")) as project:
        health = environment_health(project, "prod", deployments=0)
        orders, revenue = health.models["staging.orders"], health.models["marts.revenue"]
        assert (orders.data, revenue.data) == ("warn", "ok")
        assert [p.check_type for p in orders.problems] == ["range"]
        assert orders.status.rows == 300 and health.published == 3

        passed = replace(orders.problems[0], id=None, status="pass", created_at=None)
        project.state.record_check_results(None, [passed])  # e.g. the data was corrected
        health = environment_health(project, "prod", deployments=0)
        assert health.models["staging.orders"].data == "ok"
        assert health.models["staging.orders"].problems == []
