"""Great Expectations 1.x on the benchmark's table, through its pandas datasource.

    bench/.venvs/gx/bin/python bench/_checks_gx.py PLAN.json ORDERS.parquet

Runs in Great Expectations' own virtual environment (stdlib, pandas and GX only). Its
SQL datasource fails against DuckDB, so the table is handed over as Parquet, the way
many users run it on files. Two phases are timed: ``load`` (``pandas.read_parquet``)
and ``validate`` (an ephemeral context, a pandas datasource, a suite of the
expectations, and ``batch.validate`` with the default result format, which counts
unexpected values and keeps a partial list of them: GX's counterpart of samples).
The last line of stdout is ``BENCH-RESULT {json}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ["GX_ANALYTICS_ENABLED"] = "false"

MARK = "BENCH-RESULT "


def _decoded(value: Any) -> Any:
    if isinstance(value, dict) and "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    return value


def expectation(entry: dict[str, Any]) -> Any:
    """The planned expectation as a GX object; the check's name travels in ``meta``."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    kwargs = {key: _decoded(value) for key, value in entry["kwargs"].items()}
    condition = kwargs.pop("row_condition", None)
    if condition is not None:
        kwargs["row_condition"] = Column(condition["column"]) == condition["equals"]
    return getattr(gxe, entry["class"])(**kwargs, meta={"name": entry["name"]})


def validate(frame: Any, plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset("orders")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": frame}
    )
    suite = context.suites.add(gx.ExpectationSuite(name="bench"))
    for entry in plan:
        suite.add_expectation(expectation(entry))
    outcome = batch.validate(suite)
    found = []
    for result in outcome.results:
        raised = (result.exception_info or {}).get("raised_exception", False)
        message = (result.exception_info or {}).get("exception_message") if raised else None
        found.append(
            {
                "name": result.expectation_config.meta["name"],
                "success": None if raised else bool(result.success),
                "unexpected_count": (result.result or {}).get("unexpected_count"),
                "element_count": (result.result or {}).get("element_count"),
                "error": message,
            }
        )
    return found


def main(argv: list[str]) -> int:
    import great_expectations
    import pandas as pd

    plan = json.loads(Path(argv[1]).read_text())
    started = time.perf_counter()
    frame = pd.read_parquet(argv[2])
    loaded = time.perf_counter()
    found = validate(frame, plan)
    finished = time.perf_counter()
    payload = {
        "load_s": loaded - started,
        "validate_s": finished - loaded,
        "seconds": finished - started,
        "rows": len(frame),
        "expectations": found,
        "version": great_expectations.__version__,
    }
    print(MARK + json.dumps(payload, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
