"""What a plan says matches what a run will do: change kinds, rebuilds, refusals, stray files."""

from __future__ import annotations

from pathlib import Path

from tests.support import cli, cli_json, write_project

CUSTOMERS = "id,name,country\n1,Greta,DE\n2,Oskar,IT\n3,Ana,PT\n"
FILES = {
    "sources/shop.yml": "type: files\ntables:\n  customers: {path: data/customers.csv}\n",
    "data/customers.csv": CUSTOMERS,
    "models/staging/customers.sql": "select id, name, country from shop.customers",
    "models/marts/segments.py": """
        import pyarrow as pa

        def model(ctx):
            customers = ctx.ref("staging.customers")
            return pa.table({"id": customers["id"], "segment": ["new"] * customers.num_rows})
    """,
    "models/marts/by_country.sql": (
        "select country, count(*) as customers from staging.customers group by country"
    ),
}


def models_of(plan: dict[str, object]) -> dict[str, dict[str, object]]:
    return {m["name"]: m for m in plan["models"]}  # type: ignore[attr-defined, index]


def test_new_values_upstream_leave_an_untouched_python_model_indirect_and_non_breaking(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "data/customers.csv").write_text(CUSTOMERS.replace("Oskar", "Oskar B."))

    found = models_of(cli_json(root, "plan"))
    assert found["shop.customers"]["change"] == "direct"
    assert (found["marts.segments"]["change"], found["marts.segments"]["breaking"]) == (
        "indirect",
        False,
    )
    assert found["marts.segments"]["rebuild"] is True  # new rows reach it all the same
    ci = cli(root, "plan", "--fail-on-breaking")
    assert ci.returncode == 0, ci.stdout + ci.stderr

    # editing the Python model's own file is a direct change, and it cannot be read: breaking
    path = root / "models/marts/segments.py"
    path.write_text(path.read_text().replace('"new"', '"fresh"'))
    found = models_of(cli_json(root, "plan"))
    assert (found["marts.segments"]["change"], found["marts.segments"]["breaking"]) == (
        "direct",
        True,
    )
    assert cli(root, "plan", "--fail-on-breaking").returncode == 3
