"""Bad files in a file source: a clear error or a reject per record, never a traceback or wrong data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support import cli, cli_json, write_project

MODEL = {"models/staging/orders.sql": "select * from shop.orders"}


def source(options: str = "") -> str:
    extra = f", {options}" if options else ""
    return f"type: files\ntables:\n  orders: {{path: data/orders_*.csv{extra}}}\n"


def project(tmp_path: Path, files: dict[str, bytes], options: str = "") -> Path:
    root = write_project(tmp_path, {"sources/shop.yml": source(options), **MODEL})
    (root / "data").mkdir()
    for name, content in files.items():
        (root / "data" / name).write_bytes(content)
    return root


def failed_load(root: Path) -> str:
    """The run fails on shop.orders: its error, said without a traceback."""
    done = cli(root, "run", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    models = {m["name"]: m for m in json.loads(done.stdout)["models"]}
    assert models["shop.orders"]["status"] == "failed"
    return str(models["shop.orders"]["error"])


def refused(root: Path, *args: str) -> str:
    done = cli(root, *args)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output
    return " ".join(output.split())


def rows(root: Path, sql: str) -> list[dict[str, object]]:
    return list(cli_json(root, "query", sql)["rows"])


LATIN1 = b"order_id,customer\n1,Caf\xe9 Nord\n2,Br\xfcder\n"


def test_a_latin1_csv_names_the_byte_and_the_encoding_option(tmp_path: Path) -> None:
    root = project(tmp_path, {"orders_1.csv": LATIN1})
    plan = cli(root, "plan")  # the header is read to show the new file's columns
    assert plan.returncode == 0 and "Traceback" not in plan.stdout + plan.stderr
    error = failed_load(root)
    assert "data/orders_1.csv:2: it is not UTF-8 text: byte 0xe9 at byte offset 23" in error
    assert "(line 2, column 6)" in error
    assert "set `encoding:` of orders in sources/shop.yml (utf-8, utf-16 or latin-1)" in error
    assert "UnicodeDecodeError" not in error


def test_the_encoding_option_is_honoured_by_plan_load_and_contract(tmp_path: Path) -> None:
    root = project(tmp_path, {"orders_1.csv": LATIN1}, "encoding: latin-1")
    cli(root, "run", check=True)
    assert rows(root, "select customer from staging.orders order by order_id") == [
        {"customer": "Café Nord"},
        {"customer": "Brüder"},
    ]
    # a new latin-1 file: the plan reads its header in latin-1 too, and the load accepts it
    (root / "data/orders_2.csv").write_bytes(b"order_id,customer,r\xe9gion\n3,Z\xfcrich,Ost\n")
    plan = cli(root, "plan")
    assert plan.returncode == 0 and "Traceback" not in plan.stdout + plan.stderr
    assert "shop.orders schema: région added" in plan.stdout
    (root / "sources/shop.yml").write_text(
        "type: files\ntables:\n  orders:\n    path: data/orders_*.csv\n    encoding: latin1\n"
        "    schema_policy: evolve\n"
    )
    cli(root, "run", check=True)
    assert rows(root, "select région from staging.orders where order_id = 3") == [{"région": "Ost"}]


def test_a_latin1_csv_makes_plan_fail_cleanly_once_a_contract_is_pinned(tmp_path: Path) -> None:
    root = project(tmp_path, {"orders_1.csv": b"order_id,customer\n1,a\n"})
    cli(root, "run", check=True)
    (root / "data/orders_2.csv").write_bytes(LATIN1)
    message = refused(root, "plan")
    assert "data/orders_2.csv:2: it is not UTF-8 text" in message
    assert "encoding:" in message
    (root / "data/orders_2.csv").write_bytes(b"order_id,r\xe9gion\n1,a\n")  # in the header
    message = refused(root, "plan")
    assert "data/orders_2.csv:1: it is not UTF-8 text: byte 0xe9" in message


def test_a_bad_byte_past_the_header_is_found_at_its_line(tmp_path: Path) -> None:
    content = b"order_id,customer\n" + b"".join(b"%d,ok\n" % i for i in range(1, 50))
    root = project(tmp_path, {"orders_1.csv": content + b"50,Gen\xe8ve\n"})
    error = failed_load(root)
    assert "data/orders_1.csv:51: it is not UTF-8 text: byte 0xe8" in error
    assert "(line 51, column 7)" in error


def test_a_binary_file_named_csv_is_refused_as_binary(tmp_path: Path) -> None:
    root = project(tmp_path, {"orders_1.csv": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0"})
    error = failed_load(root)
    assert "data/orders_1.csv:1:" in error
    assert "is not UTF-8 text" in error
    (root / "data/orders_1.csv").write_bytes(b"PK\x03\x04\0\0\0\0\n")
    error = failed_load(root)
    assert "binary data (a NUL byte at byte offset 4, line 1)" in error
    assert "is it a CSV file?" in error


def test_utf16_files_load_with_their_encoding(tmp_path: Path) -> None:
    text = "order_id,customer\n1,Café\n"
    root = project(tmp_path, {"orders_1.csv": text.encode("utf-16")}, "encoding: utf-16")
    cli(root, "run", check=True)
    assert rows(root, "select customer from staging.orders") == [{"customer": "Café"}]
    (root / "data/orders_2.csv").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    assert "big-endian UTF-16" in failed_load(root)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("encoding: cp1252", "'cp1252' is not an encoding headgate reads files in"),
        ("quote: \"''\"", "a quote or escape is one character"),
        ("delimiter: ''", "a delimiter is 1 to 4 bytes"),
    ],
)
def test_unreadable_options_are_refused_when_the_project_loads(
    tmp_path: Path, options: str, message: str
) -> None:
    root = project(tmp_path, {"orders_1.csv": b"order_id\n1\n"}, options)
    output = refused(root, "plan")
    assert "sources/shop.yml:3" in output and message in output


def test_encoding_on_parquet_and_an_unknown_suffix_are_refused(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "sources/shop.yml": "type: files\ntables:\n"
            "  orders: {path: data/o.parquet, encoding: latin-1}\n",
            **MODEL,
        },
    )
    assert "encoding applies to csv and tsv files, not parquet" in refused(root, "plan")
    (root / "sources/shop.yml").write_text("type: files\ntables:\n  orders: {path: data/o.dat}\n")
    output = refused(root, "plan")
    assert "cannot tell the format of 'data/o.dat'" in output
    assert "add format: csv | tsv | parquet | json | ndjson" in output


def test_a_quote_never_closed_on_the_last_line_is_a_reject(tmp_path: Path) -> None:
    lines = [b"order_id,customer_id,quantity,status"]
    lines += [b"%d,1,2,placed" % i for i in range(1, 60)]
    root = project(tmp_path, {"orders_1.csv": b"\n".join([*lines, b'5000,1,10,"placed\n'])})
    result = cli_json(root, "run")
    assert result["status"] == "success"
    shop = next(m for m in result["models"] if m["name"] == "shop.orders")
    assert shop["detail"] == {"files": 1, "loaded": 59, "rejected": 1}
    assert rows(root, "select count(*) as n from staging.orders where status like '%\"%'") == [
        {"n": 0}
    ]
    rejects = rows(root, "select line, reason, raw_record from shop.orders__rejects")
    assert rejects == [
        {
            "line": 61,
            "reason": "UNQUOTED VALUE: Value with unterminated quote found.",
            "raw_record": '5000,1,10,"placed',
        }
    ]


def test_a_quote_never_closed_before_other_lines_refuses_the_file(tmp_path: Path) -> None:
    content = b'order_id,status\n1,placed\n2,"placed\n3,shipped\n4,shipped\n'
    root = project(tmp_path, {"orders_1.csv": content})
    error = failed_load(root)
    assert "data/orders_1.csv:3: a quoted value opens on this line and is never closed" in error
    assert "the 2 line(s) after it cannot be read" in error


def test_rejects_are_counted_per_record_not_per_error(tmp_path: Path) -> None:
    lines = [b"order_id,customer_id,amount,status"]
    lines += [b"%d,%d,%d.5,placed" % (i, i % 7, i) for i in range(1, 98)]
    lines += [b"98,1", b"99,2", b"100"]  # three short records, five missing fields
    root = project(tmp_path, {"orders_1.csv": b"\n".join(lines) + b"\n"})
    result = cli_json(root, "run")
    assert result["status"] == "success"  # 3 of 100 records: under the 5% limit
    shop = next(m for m in result["models"] if m["name"] == "shop.orders")
    assert shop["detail"] == {"files": 1, "loaded": 97, "rejected": 3}
    (root / "data/orders_2.csv").write_bytes(
        b"order_id,customer_id,amount,status\n200,1,2,ok\n201,1,2,ok,x,y\n202,x,y,ok\n"
    )
    declared = yaml.safe_load((root / "sources/shop.yml").read_text())
    assert declared["tables"]["orders"]["columns"]["customer_id"] == "BIGINT"  # pinned
    declared["tables"]["orders"]["max_reject_fraction"] = "90%"
    (root / "sources/shop.yml").write_text(yaml.safe_dump(declared))
    cli(root, "run", check=True)
    rejects = rows(
        root,
        "select line, column_name, reason, raw_record from shop.orders__rejects "
        "where file = 'data/orders_2.csv' order by line",
    )
    assert [(r["line"], r["raw_record"]) for r in rejects] == [
        (3, "201,1,2,ok,x,y"),  # two extra fields: one reject row
        (4, "202,x,y,ok"),  # two bad casts: one reject row naming both columns
    ]
    assert rejects[0]["reason"] == "TOO MANY COLUMNS: Expected Number of Columns: 4 Found: 6"
    assert rejects[1]["column_name"] == "customer_id, amount"
    assert str(rejects[1]["reason"]).count("CAST:") == 2


def test_too_many_bad_records_are_counted_as_records(tmp_path: Path) -> None:
    lines = [b"order_id,amount"] + [b"%d,%d" % (i, i) for i in range(1, 91)]
    lines += [b"%d,1,2,3" % i for i in range(91, 101)]  # 10 records with 2 extra fields each
    root = project(tmp_path, {"orders_1.csv": b"\n".join(lines) + b"\n"})
    error = failed_load(root)
    assert "10 of 100 rows rejected (10.0%)" in error


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    root = project(tmp_path, {"orders_1.csv": b"order_id,amount\n1,2\n"})
    cli(root, "run", check=True)
    (root / "data/orders_2.csv").write_bytes(b"\xef\xbb\xbforder_id,amount\n3,4\n")
    result = cli_json(root, "run")
    assert result["status"] == "success", result
    assert rows(root, "select sum(order_id) as s from staging.orders") == [{"s": 4}]


def test_a_file_written_on_one_line_fails_at_once_with_what_is_wrong(tmp_path: Path) -> None:
    header = ",".join(f"column_{i}" for i in range(450_000)).encode()  # about 6 MB, no newline
    root = project(tmp_path, {"orders_1.csv": header})
    for command in ("plan", "run"):
        done = cli(root, command, timeout=60)  # a hang fails here instead of holding the lock
        assert "Traceback" not in done.stdout + done.stderr
    error = failed_load(root)
    assert "data/orders_1.csv:1: the first line is longer than 1 MB" in error
    assert "one record per line" in error
    # the environment is free again at once: another run is not kept waiting
    (root / "data/orders_1.csv").write_bytes(b"order_id\n1\n")
    cli(root, "run", check=True)


def test_a_header_with_too_many_columns_is_refused(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(12_000)).encode()
    root = project(tmp_path, {"orders_1.csv": header + b"\n"})
    error = failed_load(root)
    assert "the first line has 12,000 fields, more than the 10,000 columns" in error


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"order_id,amount,Order_ID", "names column 'Order_ID' twice (columns 1 and 3)"),
        (b"order_id,,amount", "column 2 of the header has no name"),
    ],
)
def test_a_header_that_names_a_column_twice_or_not_at_all(
    tmp_path: Path, header: bytes, message: str
) -> None:
    root = project(tmp_path, {"orders_1.csv": header + b"\n1,2,3\n"})
    assert message in failed_load(root)


def test_an_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    root = project(tmp_path, {"orders_1.csv": b""})
    assert "data/orders_1.csv is empty" in failed_load(root)


def test_quarantine_reads_lines_in_the_source_encoding(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "sources/shop.yml": "type: files\ntables:\n"
            "  orders: {path: data/o_*.csv, encoding: latin-1, schema_policy: quarantine}\n",
            "models/staging/orders.sql": "select * from shop.orders",
        },
    )
    (root / "data").mkdir()
    (root / "data/o_1.csv").write_bytes(b"id,city\n1,Z\xfcrich\n")
    cli(root, "run", check=True)
    (root / "data/o_2.csv").write_bytes(b"id,ville\n2,Neuch\xe2tel\n")
    cli(root, "run", check=True)
    quarantined = rows(root, "select raw_record from shop.orders__rejects order by line")
    assert quarantined == [{"raw_record": "id,ville"}, {"raw_record": "2,Neuchâtel"}]


def test_ndjson_is_utf8_and_a_file_that_is_not_is_named_by_line(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "sources/shop.yml": "type: files\ntables:\n  events: {path: data/e_*.ndjson}\n",
            "models/staging/events.sql": "select * from shop.events",
        },
    )
    (root / "data").mkdir()
    first = b"".join(b'{"id": %d, "city": "Bern"}\n' % i for i in range(20_000))  # > the prefix
    (root / "data/e_1.ndjson").write_bytes(first + b'{"id": 1, "city": "Gen\xe8ve"}\n')
    done = cli(root, "run", "--json")
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output
    assert "data/e_1.ndjson:20001: it is not UTF-8 text: byte 0xe8" in output
    assert "JSON is UTF-8 by definition" in output
    (root / "sources/shop.yml").write_text(
        "type: files\ntables:\n  events: {path: data/e_*.ndjson, encoding: latin-1}\n"
    )
    assert "encoding applies to csv and tsv files, not ndjson" in refused(root, "plan")


def test_files_that_are_not_parquet_or_json_say_so_with_the_real_reason(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "sources/shop.yml": "type: files\ntables:\n"
            "  a: {path: data/a.parquet}\n  b: {path: data/b.json}\n",
            "models/staging/a.sql": "select * from shop.a",
            "models/staging/b.sql": "select * from shop.b",
        },
    )
    (root / "data").mkdir()
    (root / "data/a.parquet").write_text("id,name\n1,x\n")
    (root / "data/b.json").write_text('not json at all\n{"id": 1}\n')
    done = cli(root, "run", "--json")
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    errors = {m["name"]: m.get("error") or "" for m in json.loads(done.stdout)["models"]}
    assert "data/a.parquet is not a Parquet file" in errors["shop.a"]
    assert "data/b.json: the warehouse reads no columns from it as json" in errors["shop.b"]
    assert "Malformed JSON" in errors["shop.b"]
    assert not any("transaction is aborted" in e for e in errors.values())
