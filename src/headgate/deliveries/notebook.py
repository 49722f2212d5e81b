"""Notebook: a Jupyter notebook executed with parameters, kept executed and as HTML.

Parameters are injected the way papermill does it, so notebooks written for
papermill work unchanged: a new cell, tagged ``injected-parameters``, goes right
after the cell tagged ``parameters`` (whose values are the defaults) and
overrides them. Besides the delivery's ``parameters`` headgate sets:

- ``headgate_environment``: the environment's name;
- ``headgate_project``: the project's folder, to read through headgate on any engine:
  ``Project.load(headgate_project).query(sql, headgate_environment)`` (secrets such as a
  PostgreSQL password are resolved in the kernel, never written into the notebook);
- ``headgate_database``: the DuckDB warehouse file (None on server engines);
- ``headgate_tables``: each model in ``reads`` -> the table or view holding it there;
- ``headgate_run_id``: the run that published the models (None outside a run).

The notebook reads the warehouse in its own kernel process; DuckDB allows other
processes to read a file only while no process has it open for writing, so the
notebook opens it read-only, and headgate runs it after its own writer closed::

    import duckdb
    con = duckdb.connect(headgate_database, read_only=True)
    rows = con.execute(f"select * from {headgate_tables['marts.daily_revenue']}").fetchall()

Both outputs are written even when a cell fails, so the traceback can be read in
place; the delivery is then ``failed`` and its message names the cell.
"""

from __future__ import annotations

import math
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.deliveries.base import DeliveryContext, DeliveryResult, DeliveryType
from headgate.deliveries.config import Delivery, NotebookConfig
from headgate.deliveries.files import atomic_write, output_path, shown, write_text_atomically
from headgate.errors import HeadgateError

if TYPE_CHECKING:
    from nbformat import NotebookNode

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
NBCONVERT_TEMPLATES = Path(__file__).parent / "templates" / "nbconvert"


class NotebookType(DeliveryType[NotebookConfig]):
    name = "notebook"
    config_model = NotebookConfig

    def reads(self, delivery: Delivery) -> list[str]:
        return list(self.config(delivery).reads)

    def run(self, delivery: Delivery, ctx: DeliveryContext) -> DeliveryResult:
        import nbformat

        config = self.config(delivery)
        source = ctx.root / config.notebook
        try:
            notebook = nbformat.read(source, as_version=4)
        except (OSError, ValueError) as exc:
            raise HeadgateError(f"cannot read notebook {config.notebook}: {exc}") from None
        values = {**config.parameters, **headgate_parameters(config, ctx)}
        found = inject_parameters(notebook, values)
        notebook.metadata["headgate"] = {
            "delivery": delivery.name,
            "environment": ctx.environment,
            "run_id": ctx.run_id,
            "executed_at": ctx.now.isoformat(),
        }
        failure = execute(notebook, config, source.parent)
        stem = output_path(config.output or "out/notebooks/{name}", ctx, delivery.name)
        if stem.suffix.lower() in (".ipynb", ".html"):
            stem = stem.with_suffix("")
        executed = stem.with_name(stem.name + ".ipynb")
        page = stem.with_name(stem.name + ".html")
        with atomic_write(executed) as temporary:
            nbformat.write(notebook, str(temporary))
        write_text_atomically(page, to_html(notebook, hide_input=config.hide_input))
        outputs = [executed, page]
        if failure is not None:
            return DeliveryResult(
                delivery.name, self.name, "failed", outputs=outputs, message=failure
            )
        message = f"ran {config.notebook} to {shown(executed, ctx.root)} and {page.name}"
        if not found:
            message += f" (no cell tagged '{PARAMETERS_TAG}': parameters were set in a first cell)"
        return DeliveryResult(
            delivery.name, self.name, "delivered", outputs=outputs, message=message
        )


def headgate_parameters(config: NotebookConfig, ctx: DeliveryContext) -> dict[str, Any]:
    tables: dict[str, str] = {}
    for model in config.reads:
        try:
            tables[model] = ctx.resolve(model)
        except KeyError:
            raise HeadgateError(
                f"model '{model}' is not published in environment '{ctx.environment}'"
            ) from None
    return {
        "headgate_environment": ctx.environment,
        "headgate_project": str(ctx.root.resolve()),
        # absolute: the kernel runs in the notebook's folder, not the project's
        "headgate_database": str(ctx.database.resolve()) if ctx.database is not None else None,
        "headgate_tables": tables,
        "headgate_run_id": ctx.run_id,
    }


def inject_parameters(notebook: NotebookNode, values: dict[str, Any]) -> bool:
    """Put ``values`` in a cell after the ``parameters`` cell; False when there was none (goes first)."""
    import nbformat

    cells = [c for c in notebook.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    index = next(
        (i for i, c in enumerate(cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])),
        None,
    )
    cell = nbformat.v4.new_code_cell(parameter_source(values), metadata={"tags": [INJECTED_TAG]})
    if notebook.get("nbformat_minor", 5) < 5:
        cell.pop("id", None)  # cell ids arrived in nbformat 4.5; older files must not carry one
    cells.insert(0 if index is None else index + 1, cell)
    notebook.cells = cells
    return index is not None


def parameter_source(values: dict[str, Any]) -> str:
    """Python assigning each value, e.g. ``days = 30``; dates become ``datetime`` objects."""
    imports: set[str] = set()
    lines = [f"{name} = {python_literal(value, imports)}" for name, value in values.items()]
    header = ["# Parameters injected by headgate", *sorted(imports)]
    return "\n".join(header + lines)


def python_literal(value: Any, imports: set[str]) -> str:
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float('{value}')"
    if isinstance(value, datetime | date):
        imports.add("import datetime")
        kind = "datetime" if isinstance(value, datetime) else "date"
        return f"datetime.{kind}.fromisoformat({value.isoformat()!r})"
    if isinstance(value, Path):
        return repr(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(python_literal(v, imports) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{python_literal(k, imports)}: {python_literal(v, imports)}" for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    raise HeadgateError(f"cannot pass {type(value).__name__} value {value!r} to a notebook")


def execute(notebook: NotebookNode, config: NotebookConfig, folder: Path) -> str | None:
    """Run every cell in the notebook's own folder; the failure's description, or None."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    deadline = time.monotonic() + config.timeout_seconds

    def remaining(cell: object) -> float:
        # one budget for the whole notebook, not one per cell
        return max(deadline - time.monotonic(), 0.01)

    client = NotebookClient(
        notebook,
        kernel_name=config.kernel,
        timeout=config.timeout_seconds,
        timeout_func=remaining,
        resources={"metadata": {"path": str(folder)}},
    )
    try:
        client.execute()
    except NoSuchKernel:
        raise HeadgateError(
            f"no Jupyter kernel named '{config.kernel}'",
            hint="install ipykernel (pip install 'headgate[deliveries]') or name an installed kernel",
        ) from None
    except CellTimeoutError:
        return f"{config.notebook} ran longer than timeout_seconds ({config.timeout_seconds}s)"
    except DeadKernelError as exc:
        return f"{config.notebook}: the kernel died ({exc})"
    except CellExecutionError as exc:
        message = f"{config.notebook}: {_failed_cell(notebook)} raised {exc.ename}: {exc.evalue}"
        if "lock" in exc.evalue.lower() and exc.ename.endswith("IOException"):
            message += (
                " (another process has the warehouse open for writing: a notebook reads it"
                " with duckdb.connect(headgate_database, read_only=True) once no writer is open)"
            )
        return message
    return None


def _failed_cell(notebook: NotebookNode) -> str:
    code_cells = [c for c in notebook.cells if c.get("cell_type") == "code"]
    for number, cell in enumerate(code_cells, start=1):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return f"code cell {number}"
    return "a cell"


def to_html(notebook: NotebookNode, *, hide_input: bool) -> str:
    """The executed notebook as one self-contained page: no CDN scripts (see the template)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="headgate",
        extra_template_basedirs=[str(NBCONVERT_TEMPLATES)],
        exclude_input=hide_input,
        exclude_input_prompt=hide_input,
    )
    body, _ = exporter.from_notebook_node(notebook)
    return str(body)
