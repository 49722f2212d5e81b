"""Python models: ``def model(ctx)`` gets its upstream models and returns Arrow, pandas or polars."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from headgate.engines.base import EngineSession, quote
from headgate.errors import EngineError, HeadgateError
from headgate.plan.rewrite import rewrite_references
from headgate.project.models import ParsedModel
from headgate.project.sqlsyntax import SYNTAX_HINT, SqlSyntaxError, in_text, parse_statements

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.runtime.tasks import BuildContext


class ModelContext:
    """What a Python model's ``model(ctx)`` receives."""

    def __init__(self, session: EngineSession, targets: dict[str, str], environment: str) -> None:
        self._session = session
        self._targets = targets
        self.environment = environment

    def ref(self, name: str) -> pa.Table:
        """The whole of an upstream model or source: an Arrow table (a Spark DataFrame on Spark)."""
        target = self._targets.get(name.lower())
        if target is None:
            raise HeadgateError(
                f"ctx.ref('{name}'): not an upstream of this model",
                hint=f"upstream: {', '.join(sorted(self._targets))}",
            )
        return self._session.frame(f"SELECT * FROM {quote(target)}")

    def sql(self, query: str) -> pa.Table:
        """Run a query that reads upstream models by name: Arrow (a Spark DataFrame on Spark)."""
        try:  # a query built at run time was not checked when the project loaded
            parse_statements(query)
        except SqlSyntaxError as exc:
            raise HeadgateError(f"ctx.sql(...): {in_text(exc.problem)}", hint=SYNTAX_HINT) from None
        session = self._session
        dialect, columns = session.capabilities.dialect, session.columns_of
        return session.frame(
            rewrite_references(query, self._targets, dialect=dialect, columns=columns)
        )


def run_python_model(ctx: BuildContext, session: EngineSession, model: ParsedModel) -> pa.Table:
    path = ctx.project.root / model.path
    spec = importlib.util.spec_from_file_location(
        f"headgate_model_{model.name.replace('.', '_')}", path
    )
    if spec is None or spec.loader is None:
        raise HeadgateError(f"{path}: cannot load Python model")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    targets = {name: ctx.physical_of(name) for name in ctx.project.dag.upstream[model.name]}
    value = module.model(ModelContext(session, targets, ctx.plan.environment))
    if session.own_frame(value):
        return value  # the engine's own DataFrame (Spark): written where it is, never as Arrow
    return to_arrow(value, path)


def to_arrow(value: object, path: Path) -> pa.Table:
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatchReader):
        return value.read_all()
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    module = type(value).__module__
    if module.startswith("pandas"):
        return pa.Table.from_pandas(value, preserve_index=False)
    if module.startswith("polars"):
        table = value.to_arrow()  # type: ignore[attr-defined]
        assert isinstance(table, pa.Table)
        return table
    raise EngineError(
        f"{path}: model() returned {type(value).__name__}; return a pyarrow Table, "
        "a pandas DataFrame or a polars DataFrame"
    )
