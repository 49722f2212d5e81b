"""External steps: shell commands and Python callables as nodes of a run's DAG."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import ProjectError
from tests.support import cli, write_project

FETCH = """
import os, sys
folder = os.path.join(os.getcwd(), "data")
n = len([f for f in os.listdir(folder) if f.startswith("orders_")]) + 1
with open(os.path.join(folder, f"orders_{n}.csv"), "w") as out:
    out.write("id,amount\\n" + "".join(f"{n * 10 + i},{i}\\n" for i in range(n)))
print(f"fetched orders_{n}.csv for run", os.environ["HEADGATE_RUN_ID"])
"""

NOTIFY = """
def send(run):
    print("totals are ready in", run["environment"])
    return "sent"
"""

FILES = {
    "data/orders_1.csv": "id,amount\n1,5\n",
    "scripts/fetch.py": FETCH,
    "scripts/notify.py": NOTIFY,
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders_*.csv, format: csv}\n",
    "models/totals.sql": "select count(*) as orders, sum(amount) as amount from shop.orders",
    "steps/fetch.yml": """
        description: Drops the shop's newest export where the source reads it.
        shell: python scripts/fetch.py
        downstream: [shop.orders]
        timeout: 60
    """,
    "steps/notify.yml": """
        python: scripts/notify.py:send
        upstream: [totals]
    """,
}


def _task(result: object, name: str) -> object:
    return next(t for t in result.tasks if t.name == name)  # type: ignore[attr-defined]


def test_a_step_drops_files_a_source_reads_and_a_callable_runs_after_the_models(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path, FILES)
    with Project.load(root) as project:
        plan = project.plan()
        order = list(plan.nodes)
        assert plan.nodes["steps.fetch"].kind == "step" and plan.nodes["steps.fetch"].is_work
        assert order.index("steps.fetch") < order.index("shop.orders") < order.index("totals")
        assert order.index("totals") < order.index("steps.notify")
        first = project.run()
        assert first.ok, [t.error for t in first.tasks if t.error]
        assert project.query("select orders, amount from totals").to_pylist() == [
            {"orders": 3, "amount": 6}  # orders_1 (1 row) and the fetched orders_2 (2 rows)
        ]
        second = project.run()  # the step runs again: a third file, read by this same run
        assert project.query("select orders from totals").to_pylist() == [{"orders": 6}]
        notify = _task(second, "steps.notify")
        assert notify.status == "built" and notify.kind == "step"  # type: ignore[attr-defined]
        assert "totals are ready in prod" in notify.detail["output"]  # type: ignore[attr-defined]
        assert notify.detail["output"].endswith("sent")  # type: ignore[attr-defined]
        record = project.run_detail(second.run_id)
    fetch = next(t for t in record.tasks if t.name == "steps.fetch")
    assert fetch.status == "built" and f"for run {second.run_id}" in fetch.detail["output"]
    log = root / fetch.detail["log"]
    assert "fetched orders_3.csv" in log.read_text()  # the whole output, kept with the run


FAILING = {
    "models/a.sql": "select 1 as x",
    "models/b.sql": "select x + 1 as y from a",
    "steps/check_upstream.yml": """
        shell: "echo looking; echo 'the vendor API said no' >&2; exit 3"
        upstream: [a]
        downstream: [b]
        retries: 3
    """,
}


def test_a_failing_step_fails_its_downstream_and_a_terminal_failure_is_not_retried(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path, FAILING)
    with Project.load(root) as project:
        result = project.run()
        status = {t.name: t.status for t in result.tasks}
        step = _task(result, "steps.check_upstream")
        published = project.status().models
    assert status == {"a": "built", "steps.check_upstream": "failed", "b": "upstream_failed"}
    assert step.detail["attempts"] == 1 and step.detail["exit_code"] == 3  # type: ignore[attr-defined]
    assert "exit code 3" in step.error and "the vendor API said no" in step.error  # type: ignore[attr-defined]
    assert {m.name for m in published if m.published_at} == {"a"} or not result.published


def test_a_transient_exit_code_is_tried_again_and_a_timeout_stops_the_step(
    tmp_path: Path,
) -> None:
    files = {
        "models/a.sql": "select 1 as x",
        "steps/flaky.yml": """
            shell: "test -f tried && echo second time lucky || { touch tried; exit 75; }"
            retries: 2
            retry_backoff: 0.1
        """,
        "steps/stuck.yml": "shell: sleep 60\ntimeout: 1\n",
    }
    root = write_project(tmp_path, files)
    with Project.load(root) as project:
        result = project.run()
    flaky, stuck = _task(result, "steps.flaky"), _task(result, "steps.stuck")
    assert flaky.status == "built" and flaky.detail["attempts"] == 2  # type: ignore[attr-defined]
    assert "second time lucky" in flaky.detail["output"]  # type: ignore[attr-defined]
    assert stuck.status == "failed" and "timeout (1 s)" in stuck.error  # type: ignore[attr-defined]
    assert stuck.seconds < 30  # type: ignore[attr-defined]  # stopped, not waited for


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("shell: echo hi\npython: x.py:f\n", "give exactly one of shell, python or dbt"),
        ("shell: echo hi\ndownstream: [nope]\n", "'nope' is neither a model"),
        ("python: scripts/x.py\n", "names no function"),
        ("shel: echo hi\n", "shel"),
    ],
)
def test_a_bad_step_is_named_with_its_file_and_line(
    tmp_path: Path, step: str, expected: str
) -> None:
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x", "steps/bad.yml": step})
    with pytest.raises(ProjectError) as caught:
        Project.load(root).loaded  # noqa: B018
    shown = caught.value.render()
    assert "steps/bad.yml" in shown and expected in shown


def test_a_step_between_a_model_and_its_upstream_is_a_cycle(tmp_path: Path) -> None:
    files = {
        "models/a.sql": "select 1 as x",
        "models/b.sql": "select x from a",
        "steps/loop.yml": "shell: 'true'\nupstream: [b]\ndownstream: [a]\n",
    }
    root = write_project(tmp_path, files)
    with pytest.raises(ProjectError) as caught:
        Project.load(root).loaded  # noqa: B018
    assert "cycle" in caught.value.render() and "steps.loop" in caught.value.render()


def test_the_plan_command_shows_steps(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    shown = cli(root, "plan")
    assert shown.returncode == 0, shown.stderr
    assert "steps.fetch" in shown.stdout and "steps.notify" in shown.stdout


def test_a_step_is_carried_out_from_its_task_spec_alone(tmp_path: Path) -> None:
    from headgate.console import Console
    from headgate.runtime.service import RunService
    from tests.runtime.test_service import submit

    files = {
        "models/a.sql": "select 1 as x",
        "steps/say.yml": "shell: echo from the spec of $HEADGATE_STEP\nupstream: [a]\n",
    }
    root = write_project(tmp_path, files)
    run_id = submit(root)
    (root / "steps" / "say.yml").unlink()  # another process: the step's file is not there
    with Project.load(root) as project:
        pending = {t.name: t for t in project.state.get_run(run_id).tasks}  # type: ignore[union-attr]
        assert pending["steps.say"].status == "pending"
        assert pending["steps.say"].spec["after"] == ["a"]  # type: ignore[index]
        assert pending["steps.say"].spec["step"]["shell"].startswith("echo")  # type: ignore[index]
        with project._engine(read_only=False) as engine:
            service = RunService(project.loaded, project.state, Console(), project.checks)
            assert service.carry_out_task(engine, run_id, "steps.say") == "built"
        done = {t.name: t for t in project.state.get_run(run_id).tasks}  # type: ignore[union-attr]
    assert done["steps.say"].detail["output"] == "from the spec of steps.say"


def test_a_steps_secret_reaches_it_and_never_shows_in_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "tok-5e3c7-value")
    files = {
        "models/a.sql": "select 1 as x",
        "steps/call_api.yml": """
            shell: 'test "$TOKEN" = tok-5e3c7-value && echo "calling with $TOKEN"'
            env: {TOKEN: "${secret:SHOP_TOKEN}"}
        """,
        "steps/missing.yml": "shell: 'true'\nenv: {KEY: '${secret:NOT_SET_ANYWHERE}'}\n",
    }
    root = write_project(tmp_path, files)
    with Project.load(root) as project:
        result = project.run()
    call, missing = _task(result, "steps.call_api"), _task(result, "steps.missing")
    assert call.status == "built"  # type: ignore[attr-defined]
    assert call.detail["output"] == "calling with ***"  # type: ignore[attr-defined]
    log = (root / call.detail["log"]).read_text()  # type: ignore[attr-defined]
    assert "calling with ***" in log and "tok-5e3c7-value" not in log
    assert missing.status == "failed" and "NOT_SET_ANYWHERE" in missing.error  # type: ignore[attr-defined]


def test_a_resumed_run_does_not_run_its_finished_steps_again(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.runtime.test_service import submit

    files = {
        "models/a.sql": "select 1 as x",
        "steps/first.yml": "shell: echo ran >> first.count\n",
        "steps/second.yml": (
            "shell: 'if [ -f hold ]; then sleep 120; fi; echo second done'\n"
            "upstream: [steps.first, a]\n"
        ),
        "hold": "",
    }
    root = write_project(tmp_path, files)
    run_id = submit(root)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.runtime.test_service import carry_out; from pathlib import Path; "
            f"carry_out(Path({str(root)!r}), {run_id})",
        ],
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )
    log = root / ".headgate" / "steps" / f"run-{run_id}" / "steps.second.log"
    deadline = time.monotonic() + 120  # only stops a hang
    while not log.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the run's process and its step's, mid-step
    process.wait()
    (root / "hold").unlink()
    from tests.runtime.test_service import carry_out

    assert carry_out(root, run_id) == "success"
    assert (root / "first.count").read_text() == "ran\n"  # done before the kill: not again
    with Project.load(root) as project:
        tasks = {t.name: t for t in project.state.get_run(run_id).tasks}  # type: ignore[union-attr]
        assert "" not in project.state.physical_tables()  # a step leaves no table record
    assert tasks["steps.second"].status == "built"
    assert tasks["steps.second"].detail["output"] == "second done"
