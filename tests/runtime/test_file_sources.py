"""File sources: each file loaded once, checked against a pinned contract, bad rows set aside."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.support import cli, cli_json, write_project

SOURCE = "type: files\ntables:\n  orders: {path: data/orders_*.csv}\n"
FILES = {
    "sources/shop.yml": SOURCE,
    "data/orders_1.csv": "id,amount\n1,10.5\n2,20\n",
    "models/staging/orders.sql": "select id, amount from shop.orders",
}


def detail(result: dict[str, object], name: str = "shop.orders") -> dict[str, object]:
    return next(m.get("detail", {}) for m in result["models"] if m["name"] == name)  # type: ignore[union-attr, index]


def count(root: Path, sql: str) -> object:
    return cli_json(root, "query", sql)["rows"][0]


def test_each_file_is_loaded_once_and_the_contract_is_pinned(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    first = cli_json(root, "run")
    assert detail(first) == {"files": 1, "loaded": 2, "rejected": 0}
    pinned = yaml.safe_load((root / "sources/shop.yml").read_text())["tables"]["orders"]["columns"]
    assert pinned == {"id": "BIGINT", "amount": "DOUBLE"}
    (root / "data/orders_2.csv").write_text("id,amount\n3,7.25\n")
    second = cli_json(root, "run")
    assert detail(second) == {"files": 1, "loaded": 1, "rejected": 0}  # only the new file
    assert count(root, "select count(*) as n from staging.orders") == {"n": 3}
    third = cli_json(root, "run")
    assert third["status"] == "nothing_to_do"
    refreshed = cli_json(root, "run", "--full-refresh")
    assert detail(refreshed)["files"] == 2
    assert count(root, "select count(*) as n from staging.orders") == {"n": 3}


def test_rows_that_do_not_parse_go_to_the_rejects_table_with_file_line_and_reason(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    lines = ["id,amount"] + [f"{i},{i}.5" for i in range(10, 70)] + ["71,lots", "72"]
    (root / "data/orders_2.csv").write_text("\n".join(lines) + "\n")
    result = cli_json(root, "run")
    assert result["status"] == "success"
    assert detail(result) == {"files": 1, "loaded": 60, "rejected": 2}
    rejects = cli_json(
        root,
        "query",
        "select file, line, reason, raw_record from shop.orders__rejects order by line",
    )
    assert [(r["file"], r["line"], r["raw_record"]) for r in rejects["rows"]] == [
        ("data/orders_2.csv", 62, "71,lots"),
        ("data/orders_2.csv", 63, "72"),
    ]
    assert "CAST" in rejects["rows"][0]["reason"]


def test_too_many_rejects_fail_the_load_and_keep_what_was_published(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "data/orders_2.csv").write_text("id,amount\n3,x\n4,y\n5,6\n")
    failed = cli_json(root, "run")
    assert failed["status"] == "failed"
    error = next(m["error"] for m in failed["models"] if m["name"] == "shop.orders")
    assert "2 of 3 rows rejected" in error and "5.0%" in error
    assert "data/orders_2.csv:2" in error  # an example names the file and line
    assert count(root, "select count(*) as n from staging.orders") == {"n": 2}
    (root / "data/orders_2.csv").write_text("id,amount\n3,1.5\n4,2.5\n5,6\n")  # fixed upstream
    fixed = cli_json(root, "run")  # the file was not recorded as loaded, so it loads now
    assert detail(fixed) == {"files": 1, "loaded": 3, "rejected": 0}


def test_schema_drift_follows_the_policy(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "data/orders_2.csv").write_text("id,amount,channel\n3,1.5,web\n")
    refused = cli_json(root, "run")
    error = next(m["error"] for m in refused["models"] if m["name"] == "shop.orders")
    assert "orders_2.csv drifted from the contract: new column channel" in error
    assert "schema_policy" in error

    text = (
        (root / "sources/shop.yml").read_text().replace("{path:", "{schema_policy: evolve, path:")
    )
    (root / "sources/shop.yml").write_text(text)
    evolved = cli_json(root, "run")
    assert evolved["status"] == "success"
    assert detail(evolved)["drift"] == [
        "data/orders_2.csv drifted from the contract: new column channel"
    ]
    pinned = yaml.safe_load((root / "sources/shop.yml").read_text())["tables"]["orders"]["columns"]
    assert pinned["channel"] == "VARCHAR"

    text = (
        (root / "sources/shop.yml")
        .read_text()
        .replace("schema_policy: evolve", "schema_policy: quarantine")
    )
    (root / "sources/shop.yml").write_text(text)
    (root / "data/orders_3.csv").write_text("id,total\n9,1\n")
    quarantined = cli_json(root, "run")
    assert detail(quarantined)["quarantined"] == ["data/orders_3.csv"]
    rejects = cli_json(root, "query", "select reason from shop.orders__rejects")["rows"]
    assert any(
        "quarantined" in r["reason"] and "missing column amount" in r["reason"] for r in rejects
    )


def test_malformed_ndjson_lines_are_rejected_not_dropped(tmp_path: Path) -> None:
    files = {
        "sources/feed.yml": "type: files\ntables:\n  events: {path: data/events.ndjson}\n",
        "data/events.ndjson": '{"id": 1, "kind": "a"}\n{"id": 2, "kind": "b"}\n{"id": 3, "kind": "c"}\n',
    }
    root = write_project(tmp_path, files)
    cli(root, "run", check=True)
    (root / "data/events.ndjson").unlink()
    (root / "data/events_2.ndjson").write_text("")
    files_text = (
        (root / "sources/feed.yml").read_text().replace("data/events.ndjson", "data/events*.ndjson")
    )
    (root / "sources/feed.yml").write_text(files_text)
    lines = [json.dumps({"id": i, "kind": "x"}) for i in range(10, 60)] + [
        "{not json",
        '{"id": "seven", "kind": "y"}',
    ]
    (root / "data/events_2.ndjson").write_text("\n".join(lines) + "\n")
    result = cli_json(root, "run", "--full-refresh")
    assert detail(result, "feed.events")["loaded"] == 50
    assert detail(result, "feed.events")["rejected"] == 2
    reasons = cli_json(
        root, "query", "select reason, raw_record from feed.events__rejects order by line"
    )["rows"]
    assert {r["raw_record"] for r in reasons} >= {"{not json"}
    assert any("cannot cast id to BIGINT" in r["reason"] for r in reasons)
