"""``monitor``: a statistical monitor of a per-run metric, declared among a model's checks.

Monitors are evaluated by the control-chart module, not by the check runner; this type
only makes the key known so a project declaring one loads, and passes its parameters
through untouched.
"""

from __future__ import annotations

from typing import Any

from headgate.checks.spec import Check, CheckParams, CheckType, register


class MonitorParams(CheckParams):
    """Unused for validation: the monitor's owner validates its own parameters."""


@register
class Monitor(CheckType):
    name = "monitor"
    params_model = MonitorParams
    scopes = frozenset({"column", "model"})
    row_level = False
    example = "monitor: {metric: row_count}"

    def parse_params(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise ValueError(f"monitor takes a mapping of parameters, e.g. {self.example}")
        return dict(raw)

    def name_parts(self, check: Check) -> list[str]:
        """``[column, 'monitor', metric]``: ``orders.amount.monitor.mean``, ``orders.monitor.row_count``.

        Named after what it watches, so two monitors of a model never differ by a number.
        """
        params = check.params if isinstance(check.params, dict) else {}
        column = check.column or params.get("column")
        metric = params.get("metric")
        return [str(part) for part in (column, self.name, metric) if part]
