"""Short commands answer from what earlier commands kept, and never from anything stale."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support import cli, cli_json, write_project

FILES = {
    "sources/shop.yml": "type: files\ntables:\n  orders: {path: data/orders_*.csv}\n",
    "data/orders_1.csv": "id,amount\n1,10.5\n2,20.0\n",
    "models/staging/orders.sql": "select id, amount from shop.orders",
    "models/marts/total.sql": "select sum(amount) as total from staging.orders",
}


def states(root: Path, *args: str) -> dict[str, str]:
    return {m["name"]: m["state"] for m in cli_json(root, "status", *args)["models"]}


def test_status_follows_every_change_to_the_project_and_the_store(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    assert set(states(root).values()) == {"up to date"}
    assert set(states(root).values()) == {"up to date"}  # the second answer is the kept one

    # two edits of the same size within one tick of the clock (the second keeps the first's
    # time): only the content tells them apart, and a recent file's content is compared
    model = root / "models/marts/total.sql"
    recent = time.time_ns() + 60_000_000_000  # however slow this machine is, still recent
    os.utime(model, ns=(recent, recent))
    assert states(root)["marts.total"] == "up to date"  # loaded again, and kept
    model.write_text(model.read_text().replace("sum(amount)", "max(amount)"))
    os.utime(model, ns=(recent, recent))
    assert states(root)["marts.total"] == "changed"

    cli(root, "run", check=True)  # the store changes: the kept answers no longer apply
    assert set(states(root).values()) == {"up to date"}
    assert cli_json(root, "query", "select total from marts.total")["rows"] == [{"total": 20.0}]

    (root / "data/orders_2.csv").write_text("id,amount\n3,30.0\n")  # a new file behind a glob
    assert states(root)["shop.orders"] == "changed"
    (root / "models/marts/extra.sql").write_text("select 1 as n")  # a new model
    assert states(root)["marts.extra"] == "not published"

    cli(root, "run", check=True)
    assert cli_json(root, "query", "select total from marts.total")["rows"] == [{"total": 30.0}]
    cli(root, "rollback", "prod", check=True)  # written to the store and the warehouse only
    assert states(root)["marts.extra"] == "not published"
    assert cli_json(root, "query", "select total from marts.total")["rows"] == [{"total": 20.0}]


def test_a_broken_project_file_is_reported_even_after_a_kept_load(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    assert states(root)
    (root / "models/marts/total.sql").write_text("select sum(amount) as total from staging.order")
    broken = cli(root, "status")
    assert broken.returncode == 1
    assert "'staging.order' is neither a model nor a declared source table" in broken.stderr


HEAVY = ("sqlglot", "sqlalchemy", "pyarrow", "headgate.project.loader", "headgate.sources")
LOADED_BY = """
import sys
from headgate.cli.main import main
sys.argv = ["headgate", "-p", sys.argv[1], *sys.argv[2:]]
try:
    main()
except SystemExit:
    pass
print(" ".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def heavy_modules_loaded(root: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", LOADED_BY.format(heavy=HEAVY), str(root), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def test_status_and_query_from_kept_answers_load_no_parser_orm_or_arrow(tmp_path: Path) -> None:
    """What makes a short command answer at once: neither the SQL parser, the store's ORM,
    Arrow nor the project loader is imported when the kept answers are valid."""
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    query = ("query", "select total from marts.total")
    for command in (("status",), query):
        cli(root, *command, check=True)  # keeps what the next one needs
        assert heavy_modules_loaded(root, *command) == "", command
    # after a change, the full way: the project is parsed again
    (root / "models/marts/total.sql").write_text(
        "select sum(amount) + 0 as total from staging.orders"
    )
    assert "headgate.project.loader" in heavy_modules_loaded(root, "status")
