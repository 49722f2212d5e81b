"""Selecting external steps like models: by name, glob, tag, path, with up- and downstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import HeadgateError
from tests.support import cli, write_project

FILES = {
    "data/crm.csv": "id,name\n1,ada\n",
    "sources/crm.yml": "type: files\ntables:\n  people: {path: data/crm.csv, format: csv}\n",
    "models/staging/people.sql": "select * from crm.people",
    "models/marts/mailing.sql": "select count(*) as people from staging.people",
    "models/marts/other.sql": "select 1 as x",
    "steps/load_crm.yml": """
        shell: echo loaded the crm export
        downstream: [crm.people]
        tags: [nightly]
    """,
    "steps/notify.yml": """
        shell: echo mailing list ready
        upstream: [marts.mailing]
    """,
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.load(write_project(tmp_path, FILES))


def test_a_step_is_selected_by_name_tag_glob_and_path(project: Project) -> None:
    assert project.select("steps.load_crm") == {"steps.load_crm"}
    assert project.select("STEPS.Load_CRM") == {"steps.load_crm"}
    assert project.select("tag:nightly") == {"steps.load_crm"}
    assert project.select("steps.*") == {"steps.load_crm", "steps.notify"}
    assert project.select("path:steps/notify") == {"steps.notify"}


def test_the_graph_operators_cross_steps_both_ways(project: Project) -> None:
    assert project.select("steps.load_crm+") == {
        "steps.load_crm",
        "crm.people",
        "staging.people",
        "marts.mailing",
        "steps.notify",
    }
    assert project.select("+steps.notify") == {
        "steps.notify",
        "marts.mailing",
        "staging.people",
        "crm.people",
        "steps.load_crm",
    }
    assert project.select("+staging.people") == {"staging.people", "crm.people", "steps.load_crm"}
    assert project.select("marts.mailing+") == {"marts.mailing", "steps.notify"}


def test_an_unknown_step_is_refused_with_the_known_steps(project: Project) -> None:
    with pytest.raises(HeadgateError) as refused:
        project.select("steps.load_crn")
    assert "no step named 'steps.load_crn'" in refused.value.message
    assert refused.value.hint == "the project's steps: steps.load_crm, steps.notify"


def test_an_unknown_model_name_suggests_close_names(project: Project) -> None:
    with pytest.raises(HeadgateError, match="matches nothing") as refused:
        project.select("marts.mailng")
    assert refused.value.hint is not None and "did you mean marts.mailing" in refused.value.hint


def test_a_run_of_a_selected_step_runs_only_that_step(project: Project) -> None:
    with project:
        plan = project.plan(selection="steps.notify")
        assert [n.name for n in plan.work] == ["steps.notify"]
        result = project.run(selection="steps.notify")
    assert result.ok
    assert [(t.name, t.status) for t in result.tasks] == [("steps.notify", "built")]
    assert result.tasks[0].detail["output"] == "mailing list ready"


def test_a_run_of_a_step_and_its_downstream(project: Project) -> None:
    with project:
        result = project.run(selection="steps.load_crm+")
        assert result.ok, [t.error for t in result.tasks if t.error]
        ran = {t.name for t in result.tasks if t.status == "built"}
    assert ran == {
        "steps.load_crm",
        "crm.people",
        "staging.people",
        "marts.mailing",
        "steps.notify",
    }


def test_the_cli_refuses_an_unknown_step_and_names_the_known_ones(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    result = cli(root, "run", "--select", "steps.nope")
    assert result.returncode != 0
    assert "no step named 'steps.nope'" in result.stderr + result.stdout
    assert "steps.load_crm, steps.notify" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_the_plan_of_a_selected_step_says_the_run_carries_it_out(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    assert cli(root, "run").returncode == 0
    shown = cli(root, "plan", "--select", "steps.notify", check=True).stdout
    assert "nothing to review" in shown  # no model changed
    assert "also in this run: steps.notify (build: runs echo mailing list ready)" in shown
    assert "steps.load_crm" not in shown
