"""`observe:` in headgate.yml: what is declared is checked, and a mistake names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate.errors import HeadgateError
from tests.observe.observing import observed_project

pytestmark = pytest.mark.fast


def _error(tmp_path: Path, block: str) -> str:
    from headgate.facade import Project

    root = observed_project(tmp_path / "p", block)
    with pytest.raises(HeadgateError) as caught:
        Project.load(root).loaded  # noqa: B018 - loading is what is tested
    return caught.value.render()


@pytest.mark.parametrize(
    ("block", "line", "said"),
    [
        (
            "observe:\n  components:\n    - key: job\n      schedule: {cron: '0 2 * * *', margin: 10 minutes}\n",
            5,
            "'10 minutes' is not a duration: write seconds or e.g. 90s, 15m, 2h, 1d",
        ),
        (
            "observe:\n  components:\n    - key: job\n      schedule: {cron: '0 25 * * *'}\n",
            5,
            "is not a cron expression",
        ),
        (
            "observe:\n  rules:\n    - name: r\n      conditions: [{run_state: {matches: [FAILED]}, "
            "metric: {key: a, operator: gt, value: 1}}]\n      actions: [{slack: {url: 'http://x'}}]\n",
            5,
            "a condition is exactly one of run_state, task_state, test_status, metric, message, "
            "alert (got run_state, metric)",
        ),
        (
            "observe:\n  rules:\n    - name: r\n      journey: nightly\n"
            "      conditions: [{alert: {types: [late_start]}}]\n"
            "      actions: [{slack: {url: 'http://x'}}]\n",
            0,
            "rule r names journey nightly, which is not declared",
        ),
        (
            "observe:\n  rules:\n    - name: r\n      supress_for: 1h\n"
            "      conditions: [{alert: {types: [late_start]}}]\n      actions: [{slack: {url: 'x'}}]\n",
            0,
            "supress_for",
        ),
        (
            "observe:\n  journeys:\n    - name: empty\n",
            4,
            "journey empty needs a path (components in order) or edges",
        ),
    ],
)
def test_a_mistake_in_observe_is_a_clear_error(
    tmp_path: Path, block: str, line: int, said: str
) -> None:
    message = _error(tmp_path, block)  # headgate.yml's line 1 is the project's name
    assert said in message
    if line:
        assert f"headgate.yml:{line}:" in message


def test_a_declared_journey_loads_with_its_durations_in_seconds(tmp_path: Path) -> None:
    from headgate.facade import Project

    root = observed_project(
        tmp_path / "p",
        "observe:\n  components:\n    - key: job\n      schedule: {cron: '0 2 * * *', margin: 90s, duration: 2h}\n"
        "  journeys:\n    - {name: nightly, path: [job, 'model:marts.totals']}\n",
    )
    observe = Project.load(root).loaded.config.observe
    schedule = observe.components[0].schedule
    assert schedule is not None and (schedule.margin, schedule.duration) == (90.0, 7200.0)
    assert observe.journeys[0].links() == [("job", "model:marts.totals")]
