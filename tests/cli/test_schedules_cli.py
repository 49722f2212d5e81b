"""headgate schedules: the declared schedules, their next slots, pause and resume."""

from __future__ import annotations

from pathlib import Path

from tests.support import cli, cli_json, write_project

CONFIG = "name: t\nschedules:\n  - {name: nightly, cron: '0 2 * * *', timezone: Europe/Paris}\n"


def test_schedules_are_listed_paused_and_resumed(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x"}, config=CONFIG)
    listed = cli_json(root, "schedules")["schedules"]
    assert [(s["name"], s["paused"]) for s in listed] == [("nightly", False)]
    assert all(slot.endswith("01:00:00+00:00") for slot in listed[0]["next_slots"])  # 02:00 Paris
    assert "nightly paused" in cli(root, "schedules", "pause", "nightly", check=True).stdout
    assert cli_json(root, "schedules")["schedules"][0]["paused"] is True
    cli(root, "schedules", "resume", "nightly", check=True)
    assert cli_json(root, "schedules")["schedules"][0]["paused"] is False


def test_an_unknown_schedule_is_a_clear_error(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x"}, config=CONFIG)
    done = cli(root, "schedules", "pause", "weekly")
    assert done.returncode == 1
    assert "no schedule named weekly" in done.stderr and "nightly" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_listing_says_what_each_schedules_runs_do_and_where(tmp_path: Path) -> None:
    config = CONFIG + (
        "  - {name: review, cron: '0 3 * * *', includes: [ingest, build, checks],"
        " agents: {labels: {site: eu}}}\n"
    )
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x"}, config=config)
    table = cli(root, "schedules", check=True).stdout
    assert "all steps" in table.split("nightly")[1].split("\n")[0]
    assert "ingest, build, checks on agents site=eu" in table.split("review")[1].split("\n")[0]
    listed = {s["name"]: s for s in cli_json(root, "schedules")["schedules"]}
    assert listed["review"]["includes"] == ["ingest", "build", "checks"]
    assert listed["review"]["agents"] == {"labels": {"site": "eu"}, "sites": []}
