"""Project files that are not UTF-8 text are named with the byte, line and column at fault.

Never a UnicodeDecodeError traceback: each case runs the real CLI and checks the exit
code, that no traceback is printed and what the message says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import cli, write_project

ORDERS = "select 1 as order_id, 'placed' as status"


def refused(root: Path, *args: str) -> str:
    done = cli(root, *args)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "UnicodeDecodeError" not in output, output
    return " ".join(output.split())


@pytest.mark.parametrize(
    ("relative", "content", "line"),
    [
        ("models/staging/orders.sql", b"-- caf\xe9 orders\nselect 1 as order_id\n", 1),
        ("models/staging/orders.yml", b"description: Orders.\nowner: Ren\xe9\n", 2),
        ("sources/shop.yml", b"type: files\n# Fran\xe7ais\ntables:\n  a: {path: a.csv}\n", 2),
        ("checks/orders.sql", b"select *\nfrom staging.orders -- \xe9\nwhere false\n", 2),
    ],
)
def test_a_latin1_project_file_is_named_with_its_line(
    tmp_path: Path, relative: str, content: bytes, line: int
) -> None:
    root = write_project(tmp_path, {"models/staging/orders.sql": ORDERS})
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_bytes(content)
    for command in ("plan", "run"):
        message = refused(root, command)
        assert f"{relative}:{line}:" in message
        assert "is not UTF-8 text: byte 0x" in message and "does not decode" in message
        assert "save the file as UTF-8" in message


def test_the_project_file_itself_in_latin1(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/staging/orders.sql": ORDERS})
    (root / "headgate.yml").write_bytes(b"name: shop\ndescription: caf\xe9\n")
    message = refused(root, "status")
    assert "headgate.yml:2:" in message and "byte 0xe9 at byte offset 27" in message


def test_a_binary_file_named_sql_is_refused_as_binary(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/staging/orders.sql": ORDERS})
    (root / "models/staging/image.sql").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    message = refused(root, "plan")
    assert "models/staging/image.sql:1:" in message and "is not UTF-8 text" in message
    (root / "models/staging/image.sql").write_bytes(b"select 1\0\0\0")
    message = refused(root, "plan")
    assert "binary data (a NUL byte at byte offset 8" in message


def test_a_utf8_byte_order_mark_is_read_as_nothing(tmp_path: Path) -> None:
    root = write_project(tmp_path, {})
    (root / "models/staging").mkdir(parents=True)
    (root / "models/staging/orders.sql").write_bytes("\ufeff".encode() + ORDERS.encode())
    (root / "models/staging/orders.yml").write_bytes("\ufeffdescription: Orders.\n".encode())
    done = cli(root, "run")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_latin1_secrets_file_names_the_byte_not_the_secret(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "sources/shop.yml": (
                "type: sqlite\nurl: ${secret:SHOP_DB}\ntables:\n  orders: {table: orders}\n"
            ),
            "models/staging/orders.sql": "select * from shop.orders",
        },
    )
    (root / ".headgate").mkdir(exist_ok=True)
    (root / ".headgate/secrets.yml").write_bytes(b"SHOP_DB: p\xe4ssw0rd.db\n")
    done = cli(root, "run")
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output
    assert "secrets.yml" in output and "not UTF-8 text: byte 0xe4" in output
    assert "ssw0rd" not in output


def test_init_keeps_an_existing_gitignore_in_another_encoding(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_bytes(b"# r\xe9sum\xe9s\n*.tmp")
    done = cli(tmp_path, "init", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    written = (tmp_path / ".gitignore").read_bytes()
    assert written.startswith(b"# r\xe9sum\xe9s\n*.tmp\n") and b".headgate/" in written
