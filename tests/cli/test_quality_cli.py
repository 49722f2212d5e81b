"""Profiles, suggested checks and statistical monitors, as a user runs them."""

from __future__ import annotations

from pathlib import Path

from tests.support import cli, cli_json, write_project

ORDERS = {
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders.csv}\n",
    "data/orders.csv": "id,status,email\n1,paid,a@x.io\n2,paid,b@x.io\n2,PAID,c@x.io\n3,N/A, d@x.io\n",
    "models/staging/orders.sql": "select id, status from shop.orders",
}


def test_profile_and_suggestions_catch_planted_problems(tmp_path: Path) -> None:
    root = write_project(tmp_path, ORDERS)
    cli(root, "run", check=True)
    profile = cli_json(root, "profile", "shop.orders")
    assert profile["rows"] == 4
    columns = {c["name"]: c for c in profile["columns"]}
    assert columns["id"]["distinct"] == 3
    kinds = {f["kind"] for f in columns["status"]["hygiene"]}
    assert {"mixed_case", "placeholder"} <= kinds
    shown = cli(root, "profile", "shop.orders", check=True)
    assert "placeholder" in shown.stdout or "placeholders" in shown.stdout
    suggested = cli(root, "checks", "suggest", "shop.orders", check=True).stdout
    assert "would FAIL now" in suggested and "- unique" in suggested
    target = root / "suggested.yml"
    cli(root, "checks", "suggest", "staging.orders", "--out", str(target), check=True)
    assert "Suggested checks for staging.orders" in target.read_text()
    missing = cli(root, "profile", "staging.order")
    assert missing.returncode == 1 and "staging.orders" in missing.stderr


MONITORED = {
    "sources/feed.yml": "type: files\ntables:\n  events: {path: data/events.csv}\n",
    "models/events.sql": """
        /* headgate:
        checks:
          - monitor: {metric: row_count, min_history: 4, window: 10}
            severity: warn
        */
        select * from feed.events
    """,
}


def write_events(root: Path, rows: int, first: int = 0) -> None:
    (root / "data").mkdir(exist_ok=True)
    lines = ["id"] + [str(i) for i in range(first, first + rows)]
    (root / "data/events.csv").write_text("\n".join(lines) + "\n")


def test_a_monitor_flags_an_unusual_load_once_history_exists(tmp_path: Path) -> None:
    root = write_project(tmp_path, MONITORED)
    for load in range(11):  # steady loads of about 100 rows, each with new ids
        write_events(root, 100 + load % 3, first=load * 1000)
        result = cli_json(root, "run")
        monitor = next(c for c in result["models"][-1]["checks"] if c["type"] == "monitor")
        assert monitor["status"] == "pass", monitor["message"]
    write_events(root, 400)  # a load four times the usual size
    result = cli_json(root, "run")
    monitor = next(c for c in result["models"][-1]["checks"] if c["type"] == "monitor")
    assert monitor["status"] == "warn"
    assert "beyond 3 sigma" in monitor["message"]
    assert result["published"]  # a warn-severity monitor reports, it does not block
    chart = cli(root, "monitor", "events", "row_count", check=True).stdout
    assert "out of control" in chart and "400" in chart
    as_json = cli_json(root, "monitor", "events", "row_count")
    assert as_json["verdict"] == "out of control"


def test_an_invalid_monitor_is_refused_with_its_line(tmp_path: Path) -> None:
    files = {
        **MONITORED,
        "models/events.sql": "/* headgate:\nchecks:\n  - monitor: {metric: rows}\n*/\nselect * from feed.events\n",
    }
    root = write_project(tmp_path, files)
    write_events(root, 3)
    done = cli(root, "run")
    assert done.returncode == 1
    assert "events.sql:3" in done.stderr and "row_count" in done.stderr


def test_the_monitor_chart_shown_is_the_one_the_audit_judges_by(tmp_path: Path) -> None:
    files = dict(MONITORED)
    files["models/events.sql"] = files["models/events.sql"].replace(
        "window: 10}", "window: 10, chart: ewma}"
    )
    root = write_project(tmp_path, files)
    for load in range(6):
        write_events(root, 100 + load % 3, first=load * 1000)
        cli_json(root, "run")
    shown = cli_json(root, "monitor", "events", "row_count")
    assert shown["chart"] == "ewma" and shown["window"] == 10  # the model's own monitor
    assert "(ewma chart)" in cli(root, "monitor", "events", "row_count", check=True).stdout
    asked = cli_json(root, "monitor", "events", "row_count", "--chart", "cusum")
    assert asked["chart"] == "cusum"
    refused = cli(root, "monitor", "events", "row_count", "--chart", "pie")
    assert refused.returncode != 0 and "monitor chart is one of" in refused.stderr
    assert "Traceback" not in refused.stderr
