"""Deliveries run after publishing, and never ship data that failed its checks."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from tests.support import cli, cli_json, write_project

FILES = {
    "models/marts/revenue.sql": "select * from (values (date '2024-01-01', 10.0), (date '2024-01-02', 12.5)) as t(day, revenue)",
    "models/marts/revenue.yml": "columns:\n  revenue:\n    checks:\n      - range: {min: 0}\n",
    "deliveries/revenue_file.yml": "type: export\nmodel: marts.revenue\nformat: parquet\npath: out/revenue.parquet\n",
    "deliveries/weekly.yml": """
        type: report
        title: Weekly revenue
        reads: [marts.revenue]
        sections:
          - {title: Revenue by day, query: "select day, revenue from marts.revenue order by day", chart: {type: line, x: day, y: revenue}}
        output: out/weekly.html
        pdf: off
    """,
}


def test_a_run_publishes_then_delivers(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    result = cli_json(root, "run")
    assert {d["name"]: d["status"] for d in result["deliveries"]} == {
        "revenue_file": "delivered",
        "weekly": "delivered",
    }
    assert pq.read_table(root / "out/revenue.parquet").num_rows == 2
    page = (root / "out/weekly.html").read_text()
    assert "Revenue by day" in page and "<svg" in page and "Every check passed" in page
    quiet = cli_json(root, "run")
    assert quiet["deliveries"] == []  # nothing published, nothing re-delivered


def test_data_that_fails_its_checks_is_never_delivered(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "models/marts/revenue.sql").write_text(
        "select * from (values (date '2024-01-01', -10.0)) as t(day, revenue)"
    )
    failed = cli_json(root, "run")
    assert failed["status"] == "failed" and failed["deliveries"] == []
    assert pq.read_table(root / "out/revenue.parquet").num_rows == 2  # the last good export stays


def test_deliver_on_demand_and_bad_delivery_files(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "out/revenue.parquet").unlink()
    again = cli_json(root, "deliver", "revenue_file")
    assert [d["status"] for d in again["deliveries"]] == ["delivered"]
    assert (root / "out/revenue.parquet").exists()
    (root / "deliveries/broken.yml").write_text("type: email\n")
    broken = cli(root, "run")
    assert broken.returncode == 1 and "deliveries/broken.yml" in broken.stderr
