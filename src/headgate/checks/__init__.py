"""Data checks: declared in YAML or SQL files, compiled into one scan per table, run in the engine.

``spec`` is what a check is, ``types/`` the check types (one module each), ``parse``
reads them from a project with file and line for every mistake, ``compiler`` fuses a
table's aggregate checks into one ``SELECT``, ``runner`` runs them and fetches failing
rows, ``results`` is what a person sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headgate.checks.compiler import FusedQuery, fused_scan
    from headgate.checks.parse import parse_custom_checks, parse_model_checks
    from headgate.checks.results import CheckResult
    from headgate.checks.runner import run_checks
    from headgate.checks.spec import Check, MaxFailures

__all__ = [
    "Check",
    "CheckResult",
    "FusedQuery",
    "MaxFailures",
    "fused_scan",
    "parse_custom_checks",
    "parse_model_checks",
    "run_checks",
]

_HOMES = {
    "Check": "spec",
    "MaxFailures": "spec",
    "CheckResult": "results",
    "FusedQuery": "compiler",
    "fused_scan": "compiler",
    "parse_custom_checks": "parse",
    "parse_model_checks": "parse",
    "run_checks": "runner",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: importing one submodule (the profiler, say) does not pay for all.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"headgate.checks.{_HOMES[name]}"), name)
    raise AttributeError(name)
