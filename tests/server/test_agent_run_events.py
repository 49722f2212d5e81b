"""A run carried out by agents becomes events when its record closes, as a local run does:
the pipeline ``headgate:<environment>`` with a task per model, and each model's run, so
journeys, rules and alerts see it.

A real hub under Uvicorn and real agents in threads; the warehouse and the metadata store
are the test PostgreSQL's (tests/server/test_agents.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate import Project
from tests.server.hubs import serving
from tests.server.test_agents import ENV, agents_in_threads, project, start_run

pytestmark = pytest.mark.services

__all__ = ["project"]  # the fixture, used by name

MODELS = ("raw.numbers", "marts.total", "marts.slow", "marts.report")


def run_through_an_agent(root: Path) -> int:
    """Start a run for agents at a hub, let one agent carry it out; the run's id once the
    hub has closed its record."""
    with serving(root) as served, agents_in_threads(served.url, root, ("eu-1", {})):
        run_id = start_run(served.url, environment=ENV)
        follower = served.hub.job_of_run(run_id)
        assert follower is not None and follower.wait(timeout=120), f"run {run_id} hangs"
    return run_id


def test_a_run_through_an_agent_shows_in_the_journeys_data_with_its_models_runs(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0")
    run_id = run_through_an_agent(project)
    with Project.load(project) as loaded:
        pipeline = loaded.component(f"headgate:{ENV}")
        (run,) = loaded.component_runs(f"headgate:{ENV}")
        models = {name: loaded.component(f"model:{name}") for name in MODELS}
        (total_run,) = loaded.component_runs("model:marts.total")
    assert pipeline is not None and pipeline.tool == "headgate"
    assert (run.run_key, run.status) == (str(run_id), "COMPLETED")
    assert {task["task_key"]: task["status"] for task in run.tasks} == dict.fromkeys(
        MODELS, "COMPLETED"
    )
    assert {name: m.status if m else None for name, m in models.items()} == dict.fromkeys(
        MODELS, "COMPLETED"
    )
    assert (total_run.run_key, total_run.status) == (str(run_id), "COMPLETED")


def test_a_failed_run_through_agents_is_seen_failed_with_the_model_that_failed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0")
    (project / "models/marts/total.sql").write_text(
        "select cast('not a number' as integer) as total from raw.numbers"
    )
    run_id = run_through_an_agent(project)
    with Project.load(project) as loaded:
        (run,) = loaded.component_runs(f"headgate:{ENV}")
        total = loaded.component("model:marts.total")
        numbers = loaded.component("model:raw.numbers")
        errors = loaded.observed_events(component="model:marts.total", run_key=str(run_id))
    assert (run.run_key, run.status) == (str(run_id), "FAILED")
    assert {t["task_key"]: t["status"] for t in run.tasks}["marts.total"] == "FAILED"
    assert total is not None and total.status == "FAILED"
    assert numbers is not None and numbers.status == "COMPLETED"
    assert any("not a number" in str(e.body.get("metadata", {})) for e in errors)
