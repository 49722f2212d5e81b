"""The README tells the truth: its commands exist, and its examples run and print what it says.

The examples run on the demo project (``headgate demo``, made small: 1,000 orders), as
the README's first lines invite a reader to do.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from tests.support import cli, cli_json

# one worker builds the demo once for every test here
pytestmark = pytest.mark.xdist_group("readme")
README = Path(__file__).resolve().parents[2] / "README.md"
DEMO_ORDERS = "1000"


def readme() -> str:
    return README.read_text()


def python_example() -> str:
    found = re.findall(r"```python\n(.*?)```", readme(), flags=re.DOTALL)
    example = next((code for code in found if "from headgate import Project" in code), None)
    assert example is not None, "the README has no Python example with headgate.Project"
    return str(example)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo project, written and built by ``headgate demo``, and what that printed."""
    where = tmp_path_factory.mktemp("readme")
    done = cli(where, "demo", str(where / "demo-shop"), "--orders", DEMO_ORDERS, check=True)
    return where / "demo-shop", done.stdout


def test_readme_starts_with_the_two_commands() -> None:
    head = readme().split("\n## ")[0]
    assert "make demo" in head and "make test" in head
    assert "headgate status" in head


def test_every_command_in_the_readme_table_exists(tmp_path: Path) -> None:
    listed = re.findall(r"^\| `headgate ([\w ]+?)(?: [A-Z\[\"-].*)?`", readme(), flags=re.M)
    commands = {command.strip() for command in listed}
    assert {"init", "demo", "run", "plan", "runs", "status", "query", "env create"} <= commands
    for command in sorted(commands):
        done = cli(tmp_path, *command.split(), "--help")
        assert done.returncode == 0, f"headgate {command} --help: {done.stderr}"
        assert "Usage:" in done.stdout and "--help" in done.stdout


@pytest.mark.slow
def test_the_python_example_builds_the_demo_and_prints_the_status_and_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(tmp_path, "demo", str(tmp_path / "demo-shop"), "--orders", DEMO_ORDERS, "--no-run")
    monkeypatch.chdir(tmp_path)  # the example loads "demo-shop" from where it runs
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(python_example(), "README.md", "exec"), {})
    days = cli_json(
        tmp_path / "demo-shop", "query", "select count(*) as n from marts.daily_revenue"
    )
    assert days["rows"][0]["n"] > 300  # a day per row over the demo's history
    text = printed.getvalue()
    assert text.startswith("success pyarrow.Table"), text
    assert f"[[{days['rows'][0]['n']}]]" in text, text
    built = cli_json(tmp_path / "demo-shop", "runs")["runs"]
    assert [r["status"] for r in built] == ["success"]  # the example's run, and only it


@pytest.mark.slow
def test_the_demo_says_what_it_built_and_where_to_look(demo_run: tuple[Path, str]) -> None:
    demo, printed = demo_run
    assert "1,0" in printed and "orders" in printed  # about 1,000 orders written
    assert "prod published" in printed
    assert f"cd {demo}" in printed
    assert (demo / "out/reports/monthly.html").is_file()


def where_to_look(printed: str, demo: Path) -> dict[str, list[str]]:
    """The commands the demo tells its user to try, by name, without the program path."""
    commands: dict[str, list[str]] = {}
    section = printed.split("where to look", 1)[1]
    for line in section.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) < 2 or words[0] == "cd" or line.lstrip().startswith("the "):
            continue
        program = words[0]
        assert program == "headgate" or os.path.isfile(demo / program), line
        commands[words[1]] = words[1:]
    return commands


@pytest.mark.slow
def test_the_demo_s_suggested_commands_print_what_it_promises(demo_run: tuple[Path, str]) -> None:
    demo, printed = demo_run
    commands = where_to_look(printed, demo)
    assert set(commands) == {"status", "runs", "query", "failures", "test"}

    status = cli(demo, *commands["status"], check=True).stdout
    assert "marts.daily_revenue" in status and "up to date" in status
    assert "changed" not in status and "not published" not in status

    runs = cli(demo, *commands["runs"], check=True).stdout
    assert re.search(r"│ 1\s+│ prod\s+│ success", runs), runs

    query = cli(demo, *commands["query"], check=True).stdout
    assert "order_date" in query and "revenue_eur" in query and "10 row(s)" in query

    failures = cli(demo, *commands["failures"], check=True).stdout
    assert "staging.order_items.quantity.range" in failures
    assert "are outside [1, 1,000]" in failures and "sample of failing rows" in failures

    checked = cli(demo, *commands["test"], check=True).stdout
    assert "no check failed" in checked and "warning(s) in prod" in checked
