"""Notebooks: executed in a real kernel with injected parameters, reading the warehouse read-only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import nbformat

from headgate.deliveries import run_delivery
from headgate.deliveries.base import DeliveryContext
from headgate.deliveries.notebook import INJECTED_TAG, parameter_source
from headgate.engines.duckdb import DuckDBEngine
from headgate.project.config import DuckDBEngineConfig
from tests.deliveries.support import Warehouse, declare, revenue

ANALYSIS = """
import duckdb

con = duckdb.connect(headgate_database, read_only=True)
view = ".".join('"' + part + '"' for part in headgate_tables["marts.daily_revenue"].split("."))
total = con.execute(
    f"select sum(revenue_eur) from (select * from {view} order by order_date limit {days})"
).fetchone()[0]
print(f"revenue over {days} days in {headgate_environment}: {total}")
"""


def write_notebook(root: Path, *cells: tuple[str, str, list[str]]) -> str:
    """A notebook file of (kind, source, tags) cells; returns its path relative to ``root``."""
    notebook = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        notebook.cells.append(make(source, metadata={"tags": tags}))
    path = root / "notebooks" / "analysis.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return "notebooks/analysis.ipynb"


def analysis_notebook(root: Path) -> str:
    return write_notebook(
        root,
        ("markdown", "# Revenue analysis", []),
        ("code", "days = 7\nheadgate_database = None\nheadgate_tables = {}", ["parameters"]),
        ("code", ANALYSIS, []),
    )


def test_the_notebook_runs_with_injected_parameters(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    notebook = analysis_notebook(warehouse.root)
    delivery = declare(
        warehouse.root,
        "analysis",
        f"""
        type: notebook
        notebook: {notebook}
        reads: [marts.daily_revenue]
        parameters: {{days: 10}}
        output: out/notebooks/analysis
        timeout_seconds: 120
        """,
    )
    result = run_delivery(delivery, make_context())
    assert result.status == "delivered", result.message
    executed = warehouse.root / "out/notebooks/analysis.ipynb"
    page = warehouse.root / "out/notebooks/analysis.html"
    assert result.outputs == [executed, page]
    expected = sum(revenue(day) for day in range(10))
    line = f"revenue over 10 days in dev-alice: {expected}"
    # the executed notebook: the injected cell right after the parameters cell, then the output
    ran = nbformat.read(str(executed), as_version=4)
    assert ran.cells[2].metadata["tags"] == [INJECTED_TAG]
    assert "days = 10" in ran.cells[2].source
    assert f"headgate_database = {str(warehouse.path)!r}" in ran.cells[2].source
    assert "'marts.daily_revenue': 'marts__dev_alice.daily_revenue'" in ran.cells[2].source
    assert line in ran.cells[3].outputs[0]["text"]
    assert ran.metadata["headgate"]["environment"] == "dev-alice"
    # the page: the computed output, and nothing loaded from outside
    html = page.read_text()
    assert line in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert "@import" not in html
    assert result.seconds > 0


def test_a_failing_cell_fails_the_delivery_and_keeps_its_traceback(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    notebook = write_notebook(
        warehouse.root,
        ("code", "limit = 1", ["parameters"]),
        ("code", "if limit > 0:\n    raise ValueError(f'over the limit: {limit}')", []),
    )
    text = f"type: notebook\nnotebook: {notebook}\nparameters: {{limit: 5}}\n"
    result = run_delivery(declare(warehouse.root, "limits", text), make_context())
    assert result.status == "failed"
    assert "code cell 3 raised ValueError: over the limit: 5" in result.message
    page = warehouse.root / "out/notebooks/limits.html"
    assert result.outputs == [warehouse.root / "out/notebooks/limits.ipynb", page]
    assert "over the limit: 5" in page.read_text()


def test_the_whole_notebook_has_one_time_budget(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    notebook = write_notebook(
        warehouse.root,
        ("code", "import time\ntime.sleep(1.5)", []),
        ("code", "time.sleep(1.5)", []),
    )
    text = f"type: notebook\nnotebook: {notebook}\ntimeout_seconds: 2\nhide_input: true\n"
    result = run_delivery(declare(warehouse.root, "slow", text), make_context())
    assert result.status == "failed"
    assert "ran longer than timeout_seconds (2s)" in result.message
    html = (warehouse.root / "out/notebooks/slow.html").read_text()
    assert 'class="jp-InputArea' not in html  # hide_input: outputs only, no code cells
    assert "KeyboardInterrupt" in html  # the cell that ran out of time was interrupted


def test_without_a_parameters_cell_the_values_go_first(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    notebook = write_notebook(warehouse.root, ("code", "print(since.year, headgate_run_id)", []))
    text = f"type: notebook\nnotebook: {notebook}\nparameters: {{since: 2023-05-01}}\n"
    result = run_delivery(declare(warehouse.root, "plain", text), make_context())
    assert result.status == "delivered", result.message
    assert "no cell tagged 'parameters'" in result.message
    ran = nbformat.read(str(result.outputs[0]), as_version=4)
    assert ran.cells[0].metadata["tags"] == [INJECTED_TAG]
    assert ran.cells[1].outputs[0]["text"] == "2023 41\n"


def test_a_notebook_reading_an_unpublished_model_fails_before_running(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    notebook = analysis_notebook(warehouse.root)
    text = f"type: notebook\nnotebook: {notebook}\nreads: [marts.not_built]\n"
    result = run_delivery(declare(warehouse.root, "nb", text), make_context())
    assert result.status == "failed"
    assert "model 'marts.not_built' is not published" in result.message
    assert result.outputs == []


def test_parameters_become_python_literals() -> None:
    source = parameter_source(
        {"days": 30, "rate": 0.5, "name": "it's", "since": date(2024, 1, 1), "ids": [1, None]}
    )
    namespace: dict[str, object] = {}
    exec(source, namespace)  # the injected cell is plain Python
    assert namespace["days"] == 30 and namespace["rate"] == 0.5 and namespace["name"] == "it's"
    assert namespace["since"] == date(2024, 1, 1) and namespace["ids"] == [1, None]
    assert source.splitlines()[:2] == ["# Parameters injected by headgate", "import datetime"]


def test_a_warehouse_held_by_a_writer_is_explained(warehouse: Warehouse) -> None:
    """DuckDB lets no other process read a file a writer holds: the message says what to do."""
    notebook = analysis_notebook(warehouse.root)
    writer = DuckDBEngine.open(DuckDBEngineConfig(path=str(warehouse.path)), warehouse.root)
    try:
        ctx = DeliveryContext(
            session=writer.session(),
            resolve=warehouse.resolve,
            environment="dev-alice",
            root=warehouse.root,
            database=warehouse.path,
        )
        text = f"type: notebook\nnotebook: {notebook}\nreads: [marts.daily_revenue]\n"
        result = run_delivery(declare(warehouse.root, "locked", text), ctx)
    finally:
        writer.close()
    assert result.status == "failed"
    assert "IOException" in result.message
    assert "read_only=True) once no writer is open" in result.message
