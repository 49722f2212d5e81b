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


def test_a_change_built_in_dev_is_reused_in_prod_and_the_summary_agrees(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)
    (root / "data/customers.csv").write_text(CUSTOMERS + "4,Ines,PT\n")
    cli(root, "env", "create", "dev", check=True)
    cli(root, "run", "--env", "dev", check=True)

    plan = cli_json(root, "plan", "--env", "prod")
    found = models_of(plan)
    assert set(found) == {
        "shop.customers",
        "staging.customers",
        "marts.segments",
        "marts.by_country",
    }
    assert {m["action"] for m in found.values()} == {"reuse"}
    assert not any(m["rebuild"] for m in found.values())
    assert plan["build"] == []
    dev_run = cli_json(root, "runs", "--env", "dev")["runs"][0]["id"]
    assert found["marts.segments"]["built_in"] == f"run {dev_run} in dev"

    text = cli(root, "plan", "--env", "prod", check=True).stdout
    assert "0 to build, 4 reused (already built)" in text
    assert text.count(f"reuse (run {dev_run} in dev)") == 4
    assert "│ yes" not in text
    markdown = cli(root, "plan", "--env", "prod", "--markdown", check=True).stdout
    assert "| `marts.segments` | indirect | no | - | reuse (run " in markdown
    assert "0 to build, 4 reused" in markdown


def test_a_plan_says_the_run_will_be_refused_for_contract_drift(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    cli(root, "run", check=True)  # the first load pins the contract into sources/shop.yml
    (root / "data/customers.csv").write_text("id,name,country,vip\n1,Greta,DE,true\n")

    text = cli(root, "plan", check=True).stdout
    assert "to build" in text
    assert (
        "the run will be refused: source shop.customers: data/customers.csv drifted from the "
        "contract: new column vip (schema_policy: fail)"
    ) in " ".join(text.split())
    warnings = cli_json(root, "plan")["warnings"]
    assert len(warnings) == 1 and "new column vip" in warnings[0]
    assert "new column vip" in cli(root, "plan", "--markdown", check=True).stdout

    run = cli(root, "run")  # and the run does refuse it
    assert run.returncode == 1
    assert "new column vip" in run.stdout + run.stderr

    # once the contract accepts the column, the plan has nothing to warn about
    source = (root / "sources/shop.yml").read_text()
    (root / "sources/shop.yml").write_text(
        source.replace("country: VARCHAR", "country: VARCHAR, vip: BOOLEAN")
    )
    assert cli_json(root, "plan")["warnings"] == []


def test_a_data_file_no_source_reads_is_named_in_plan_and_run(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            **FILES,
            "data/customers_2024.csv": "id,name,country\n9,Ana,PT\n",
            "data/notes.txt": "not data",
            "docs/example.csv": "a\n1\n",
        },
    )
    text = cli(root, "plan", check=True).stdout
    assert "1 data file(s) match no source and will not be loaded: data/customers_2024.csv" in (
        " ".join(text.split())
    )
    assert "notes.txt" not in text and "example.csv" not in text
    run = cli(root, "run", check=True)
    assert "data/customers_2024.csv" in run.stderr
    assert cli_json(root, "plan")["warnings"] == [
        "1 data file(s) match no source and will not be loaded: data/customers_2024.csv "
        "(add a table whose path matches them in sources/*.yml, or move them elsewhere)"
    ]
    (root / "sources/shop.yml").write_text(
        "type: files\ntables:\n  customers: {path: data/customers*.csv}\n"
    )
    assert cli_json(root, "plan")["warnings"] == []
