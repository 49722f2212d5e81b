"""headgate users / tokens: passwords from standard input, tokens printed once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import cli, cli_json, write_project

PASSWORD = "purple elephants dance quietly"


def headgate(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    executable = str(Path(sys.executable).with_name("headgate"))
    return subprocess.run(
        [executable, "-p", str(root), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_users_roles_and_tokens_from_the_command_line(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/a.sql": "select 1 as x"})
    added = headgate(root, "users", "add", "ann", "--role", "developer@dev-*", stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    weak = headgate(root, "users", "add", "bob", stdin="password1234")
    assert weak.returncode == 1 and "password is refused" in weak.stderr
    assert "Traceback" not in weak.stderr
    cli(root, "users", "grant", "ann", "viewer", check=True)
    listed = cli_json(root, "users", "list")["users"]
    assert [(u["name"], sorted(u["roles"])) for u in listed] == [
        ("ann", ["developer@dev-*", "viewer@*"])
    ]
    assert PASSWORD not in str(listed) and "argon2" not in str(listed)

    made = cli(root, "tokens", "create", "laptop", "--role", "viewer", "--user", "ann", check=True)
    value = made.stdout.strip().splitlines()[-1]
    assert value.startswith("hg_")
    tokens = cli_json(root, "tokens", "list")["tokens"]
    assert [t["name"] for t in tokens] == ["laptop"] and value not in str(tokens)
    cli(root, "tokens", "revoke", str(tokens[0]["id"]), check=True)
    assert cli_json(root, "tokens", "list")["tokens"][0]["revoked_at"]

    cli(root, "users", "disable", "ann", check=True)
    assert cli_json(root, "users", "list")["users"][0]["disabled"] is True
    changed = headgate(root, "users", "set-password", "ann", stdin="another quiet evening walk")
    assert changed.returncode == 0, changed.stderr
    actions = [e["action"] for e in cli_json(root, "audit")["entries"]]
    for action in ("user.add", "role.grant", "token.create", "token.revoke", "user.disable"):
        assert action in actions
    assert "user.set_password" in actions
    everything = " ".join(
        str(p.read_bytes()) for p in (root / ".headgate").rglob("*") if p.is_file()
    )
    assert PASSWORD not in everything and value not in everything
