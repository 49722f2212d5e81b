"""`headgate diff`: a model's data compared across environments, inside the engine."""

from __future__ import annotations

from pathlib import Path

from tests.support import cli, cli_json, write_project

CUSTOMERS = """
    /* headgate:
    unique_key: id
    */
    select * from (values (1, 'ann', 10), (2, 'bob', 20), (3, 'cy', 30)) as t(id, name, score)
"""


def test_diff_by_key_counts_rows_and_changed_values(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/customers.sql": CUSTOMERS})
    cli(root, "run", check=True)
    cli(root, "env", "create", "dev", check=True)
    same = cli_json(root, "diff", "customers", "--env", "dev", "--against", "prod")
    assert same["same_table"] and same["identical"]
    (root / "models/customers.sql").write_text(
        CUSTOMERS.replace("(2, 'bob', 20), (3, 'cy', 30)", "(2, 'bob', 25), (4, 'di', 40)")
    )
    cli(root, "run", "--env", "dev", check=True)
    found = cli_json(root, "diff", "customers", "--env", "dev", "--against", "prod")
    assert (found["rows_left"], found["rows_right"]) == (3, 3)
    assert (found["only_left"], found["only_right"], found["changed"]) == (1, 1, 1)
    assert found["column_changes"] == {"score": 1}
    assert found["sample"] == [{"id": 2, "score__dev": 25, "score__prod": 20}]
    shown = cli(root, "diff", "customers", "--env", "dev", check=True)
    assert "score: 1 value(s) differ" in shown.stdout
    by_row = cli_json(root, "diff", "customers", "--env", "dev", "--key", "id", "--key", "score")
    assert by_row["changed"] == 0 and by_row["only_left"] == 2


def test_diff_names_a_missing_model_or_key(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/customers.sql": CUSTOMERS})
    cli(root, "run", check=True)
    missing = cli(root, "diff", "customers", "--env", "nowhere")
    assert missing.returncode == 1 and "not published in nowhere" in missing.stderr
    cli(root, "env", "create", "dev", check=True)
    (root / "models/customers.sql").write_text(CUSTOMERS.replace("score)", "points)"))
    cli(root, "run", "--env", "dev", check=True)
    bad_key = cli(root, "diff", "customers", "--env", "dev", "--key", "score")
    assert bad_key.returncode == 1 and "not in both versions" in bad_key.stderr
