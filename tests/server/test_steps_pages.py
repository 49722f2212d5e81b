"""External steps on the hub: the lineage, a step's page, the run page's link, the API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from headgate.facade import Project
from tests.server.hubs import FILES, auth, running_hub
from tests.support import cli, write_project

pytestmark = pytest.mark.fast

SECRET = "crm-9f81-secret-value"
STEPS = {
    "steps/load_crm.yml": """
        description: Drops the CRM's export where the shop source reads it.
        shell: 'echo "fetched 3 rows"; echo "token $TOKEN"'
        env: {TOKEN: "${secret:CRM_TOKEN}"}
        downstream: [shop.orders]
        timeout: 30
        retries: 2
        tags: [nightly]
    """,
    "steps/notify.yml": """
        shell: 'echo "cannot reach the chat server"; exit 3'
        upstream: [marts.revenue]
    """,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    root = write_project(tmp_path_factory.mktemp("steps") / "shop", {**FILES, **STEPS})
    with pytest.MonkeyPatch.context() as patch, Project.load(root) as loaded:
        patch.setenv("CRM_TOKEN", SECRET)
        result = loaded.run()
    assert not result.ok  # steps.notify fails, and only it
    assert {t.name for t in result.tasks if t.status != "built"} == {"steps.notify"}
    yield root, result.run_id


@pytest.fixture(scope="module")
def web(project: tuple[Path, int]) -> Iterator[httpx.Client]:
    with (
        running_hub(project[0], ui=True) as url,
        httpx.Client(base_url=url, timeout=60, headers=auth(url)) as client,
    ):
        yield client


def page(web: httpx.Client, path: str, status: int = 200) -> str:
    answer = web.get(path)
    assert answer.status_code == status, f"{path}: {answer.status_code} {answer.text[:500]}"
    return answer.text


def _node(svg: str, name: str) -> str:
    found = re.search(rf'<a [^>]*data-name="{re.escape(name)}".*?</a>', svg)
    assert found, f"no node {name}"
    return found.group(0)


def test_the_lineage_draws_steps_as_their_own_nodes_coloured_by_their_last_run(
    web: httpx.Client,
) -> None:
    text = page(web, "/lineage")
    load = _node(text, "steps.load_crm")
    assert 'href="/steps/load_crm?env=prod"' in load and "k-step" in load and "s-ok" in load
    assert "step: shell" in load and "its last run succeeded" in load
    notify = _node(text, "steps.notify")
    assert "s-failed" in notify and "its last run failed" in notify
    assert "models and sources and 2 external steps" in text
    # models keep their own look and links
    assert 'href="/models/staging.orders?env=prod"' in _node(text, "staging.orders")
    edges = text.count('<path class="edge')
    assert edges == 4  # load_crm -> shop.orders -> staging.orders -> marts.revenue -> notify


def test_a_models_neighbourhood_shows_the_steps_next_to_it(web: httpx.Client) -> None:
    text = page(web, "/models/marts.revenue")
    notify = _node(text, "steps.notify")
    assert 'href="/steps/notify?env=prod"' in notify and "s-failed" in notify
    assert 'href="/steps/load_crm?env=prod"' not in text  # three levels up: out of view
    assert 'href="/steps/load_crm?env=prod"' in page(web, "/models/staging.orders")


def test_a_steps_page_says_what_it_runs_and_how_its_latest_run_went(
    web: httpx.Client, project: tuple[Path, int]
) -> None:
    run_id = project[1]
    text = page(web, "/steps/load_crm")
    assert '<h1 class="mono">steps.load_crm</h1>' in text
    assert "external step: shell" in text
    assert "echo &#34;fetched 3 rows&#34;" in text or "echo &quot;fetched 3 rows&quot;" in text
    assert "30 s" in text and "on exit code 75" in text and "nightly" in text
    assert 'href="/models/shop.orders?env=prod"' in text  # its downstream
    assert f'href="/runs/{run_id}#task-steps.load_crm"' in text
    output = re.search(r'<pre class="log" id="step-output">(.*?)</pre>', text, re.S)
    assert output and output.group(1) == "fetched 3 rows\ntoken ***"
    assert SECRET not in text
    assert f"headgate runs {run_id} --task steps.load_crm" in text
    link = f'href="/steps/load_crm/runs/{run_id}/output" id="whole-output"'
    assert link in text
    whole = web.get(f"/steps/load_crm/runs/{run_id}/output")
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/plain")
    assert whole.text.startswith("--- attempt 1 at ")
    assert whole.text.endswith("fetched 3 rows\ntoken ***\n") and SECRET not in whole.text
    assert "steps.load_crm" in page(web, "/steps/steps.load_crm")  # its node name works too


def test_a_failed_steps_page_shows_its_exit_code_and_error(web: httpx.Client) -> None:
    text = page(web, "/steps/notify")
    assert "last run failed" in text
    assert "failed with exit code 3" in text and "cannot reach the chat server" in text
    assert 'href="/models/marts.revenue?env=prod"' in text  # its upstream


def test_an_unknown_step_is_a_page_naming_the_steps(web: httpx.Client) -> None:
    text = page(web, "/steps/load_cmr", status=404)
    assert "no step named" in text and "steps.load_crm" in text


def test_the_run_pages_step_link_opens_the_steps_page(
    web: httpx.Client, project: tuple[Path, int]
) -> None:
    text = page(web, f"/runs/{project[1]}")
    assert 'href="/steps/load_crm?env=prod"' in text
    assert 'href="/models/steps.load_crm' not in text
    assert 'href="/models/staging.orders?env=prod"' in text
    assert "fetched 3 rows" in page(web, "/steps/load_crm?env=prod")


def test_the_steps_list_page(web: httpx.Client) -> None:
    text = page(web, "/steps")
    assert 'href="/steps/load_crm?env=prod"' in text and 'href="/steps/notify?env=prod"' in text


def test_the_steps_api_lists_steps_and_one_steps_runs(
    web: httpx.Client, project: tuple[Path, int]
) -> None:
    listed = web.get("/api/v1/steps").json()
    assert [s["name"] for s in listed["steps"]] == ["steps.load_crm", "steps.notify"]
    load = listed["steps"][0]
    assert load["kind"] == "shell" and load["timeout"] == 30 and load["retries"] == 2
    assert load["downstream"] == ["shop.orders"] and load["tags"] == ["nightly"]
    assert load["last_run"]["status"] == "built" and load["last_run"]["run_id"] == project[1]
    one = web.get("/api/v1/steps/notify").json()
    assert one["name"] == "steps.notify" and one["upstream"] == ["marts.revenue"]
    latest = one["runs"][0]
    assert latest["status"] == "failed" and latest["exit_code"] == 3
    assert latest["output"] == "cannot reach the chat server"
    assert SECRET not in web.get("/api/v1/steps/load_crm").text
    missing = web.get("/api/v1/steps/nope")
    assert missing.status_code == 404 and "steps.load_crm" in missing.json()["detail"]
    whole = web.get(f"/api/v1/steps/notify/runs/{project[1]}/output")
    assert whole.status_code == 200 and "cannot reach the chat server" in whole.text
    absent = web.get(f"/api/v1/steps/notify/runs/{project[1] + 7}/output")
    assert absent.status_code == 404
    assert f"no output of steps.notify in run {project[1] + 7}" in absent.json()["detail"]


def test_the_lineage_api_has_steps_with_their_edges(web: httpx.Client) -> None:
    graph = web.get("/api/v1/lineage").json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["steps.load_crm"]["kind"] == "step"
    assert nodes["steps.load_crm"]["step_kind"] == "shell"
    assert nodes["steps.notify"]["status"] == "failed"
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert ("steps.load_crm", "shop.orders") in edges
    assert ("marts.revenue", "steps.notify") in edges
    chosen = web.get("/api/v1/lineage", params={"select": "steps.load_crm+"}).json()
    assert {n["id"] for n in chosen["nodes"]} == {
        "steps.load_crm",
        "shop.orders",
        "staging.orders",
        "marts.revenue",
        "steps.notify",
    }


def test_the_cli_against_the_hub_prints_a_steps_output(
    web: httpx.Client, project: tuple[Path, int]
) -> None:
    root, run_id = project
    token = web.headers["Authorization"].split()[1]
    hub = ["--hub", str(web.base_url), "--token", token]
    table = cli(root, *hub, "runs", str(run_id), check=True).stdout
    assert "cannot reach the chat server" in table and "token ***" in table
    shown = cli(root, *hub, "runs", str(run_id), "--task", "steps.load_crm", check=True).stdout
    assert "fetched 3 rows\ntoken ***" in shown and SECRET not in shown
    assert f".headgate/steps/run-{run_id}/steps.load_crm.log on the hub" in shown
    assert "--- attempt 1 at " in shown  # the whole file, not the lines kept with the task


def test_a_long_output_is_answered_with_its_end(tmp_path: Path) -> None:
    from headgate.server.stepinfo import output_text

    log = tmp_path / "steps.big.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    assert output_text(log) == log.read_text()
    tail = output_text(log, limit=20)
    assert tail.startswith("… its first ") and "the last 20 follow\n" in tail
    assert tail.endswith("line 998\nline 999\n")
